//! Temporary runner of the books tests until tests/it/main.rs has `mod books;` (removed then).

mod books;
