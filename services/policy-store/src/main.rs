//! `levibot-policy-store`: runs the policy-store service alone, as a Kubernetes pod does.
//! `levibot-policy-store --help` lists the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    levibot_server::service_main(levibot_policy_store::SERVICE, levibot_policy_store::serve)
}
