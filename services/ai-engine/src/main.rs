//! `levibot-ai-engine`: runs the ai-engine service alone, as a Kubernetes pod does.
//! `levibot-ai-engine --help` lists the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    levibot_server::service_main(levibot_ai_engine::SERVICE, levibot_ai_engine::serve)
}
