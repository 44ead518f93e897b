//! Books: the store on every backend, then BookService behind real gRPC.

mod harness;
mod list;
mod render;
mod store;
mod validate;
mod write;
