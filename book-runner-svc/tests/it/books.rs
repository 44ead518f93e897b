//! Books: the store on every backend, then BookService behind real gRPC.

mod export;
mod harness;
mod list;
mod render;
mod store;
mod upstream;
mod validate;
mod write;
