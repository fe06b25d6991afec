//! argv → cli → commands; errors become one clear line and Docker's exit codes.

use clap::Parser;

fn main() {
    let cli = hako::cli::Cli::parse();
    match cli.trace.as_deref() {
        Some("json") => hako::trace::enable(hako::trace::Mode::Json),
        Some(_) => hako::trace::enable(hako::trace::Mode::Text),
        None => {}
    }
    let code = match hako::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hako: {}", hako::commands::describe(&e));
            hako::commands::exit_code_for(&e)
        }
    };
    std::process::exit(code);
}
