//! `producer`: crawlq's command line. See the library docs and `producer --help`.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use crawlq_core::cli;
use crawlq_core::display::printable;
use producer::{BadInput, Cli, Exit, out};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::init_tracing("warn,lapin=off", cli.log().log_format);
    match producer::run(cli).await {
        Ok(exit) => exit.into(),
        Err(error) if out::is_closed_pipe(&error) => Exit::Ok.into(),
        Err(error) => {
            // Errors may quote the user's input or a server's words.
            eprintln!("producer: error: {}", printable(&cli::one_line(&error)));
            if error.is::<BadInput>() {
                Exit::BadInput.into()
            } else {
                Exit::Infra.into()
            }
        }
    }
}

/// Parses the command line: help and version are printed as clap prints
/// them; a usage error becomes one line on stderr and exit code 2.
fn parse() -> Result<Cli, ExitCode> {
    let matches = Cli::command().try_get_matches();
    let parsed = matches.and_then(|matches| {
        producer::check_local_only(&matches)?;
        Cli::from_arg_matches(&matches)
    });
    parsed.map_err(|error| cli::usage_exit("producer", &error))
}
