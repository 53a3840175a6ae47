//! `levibot-portfolio`: runs the portfolio service alone, as a Kubernetes pod does.
//! `levibot-portfolio --help` lists the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    levibot_server::service_main(levibot_portfolio::SERVICE, levibot_portfolio::serve)
}
