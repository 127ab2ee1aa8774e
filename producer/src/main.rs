//! `producer`: crawlq's command line. See the library docs and `producer --help`.

use std::process::ExitCode;

use clap::Parser;
use crawlq_core::cli;
use producer::{BadInput, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing("warn");
    match producer::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            // Errors may quote the user's input or a server's words.
            let line = cli::one_line(&error);
            eprintln!(
                "producer: error: {}",
                crawlq_core::display::printable(&line)
            );
            if error.is::<BadInput>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
