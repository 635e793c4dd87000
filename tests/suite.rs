mod cli;
mod common;
mod limits;
mod sandbox;
