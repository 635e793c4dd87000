mod audit;
mod cli;
mod common;
mod limits;
mod mcp;
mod plugins;
mod process;
mod sandbox;
