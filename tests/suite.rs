mod cli;
mod common;
mod limits;
mod plugins;
mod process;
mod sandbox;
