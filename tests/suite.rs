mod common;
mod limits;
mod sandbox;
