//! `levibot-trade-store`: runs the trade-store service alone, as a Kubernetes pod does.
//! `levibot-trade-store --help` lists the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    levibot_server::service_main(levibot_trade_store::SERVICE, levibot_trade_store::serve)
}
