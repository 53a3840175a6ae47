//! The whole fleet in one process on port-0 listeners: every service is healthy over gRPC,
//! serves reflection and `/metrics`, the health-aggregator sees the fleet, and shutdown is
//! quick and leaves no task behind.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::time::{Duration, Instant};

use levibot_config::ServiceName;
use levibot_proto::v1::{
    GetFleetHealthRequest, GetPolicyRequest, ListModelsRequest,
    auto_ml_service_client::AutoMlServiceClient,
    health_aggregator_service_client::HealthAggregatorServiceClient,
    policy_store_service_client::PolicyStoreServiceClient,
};
use levibot_tests::{Sandbox, sample, scrape_metrics};
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// The fully qualified gRPC service each service serves.
fn grpc_service_name(service: ServiceName) -> &'static str {
    match service {
        ServiceName::Backend => "levibot.v1.BackendService",
        ServiceName::AiEngine => "levibot.v1.AiEngineService",
        ServiceName::Portfolio => "levibot.v1.PortfolioService",
        ServiceName::TradeStore => "levibot.v1.TradeStoreService",
        ServiceName::AutomlCron => "levibot.v1.AutoMlService",
        ServiceName::PolicyStore => "levibot.v1.PolicyStoreService",
        ServiceName::HealthAggregator => "levibot.v1.HealthAggregatorService",
    }
}

async fn reflected_services(sandbox: &Sandbox, service: ServiceName) -> Vec<String> {
    let mut client = ServerReflectionClient::new(sandbox.channel(service).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_is_healthy_reflects_and_exports_metrics() {
    let sandbox = Sandbox::start().await;
    for service in ServiceName::ALL {
        assert_eq!(
            sandbox.health(service, "").await,
            ServingStatus::Serving,
            "{service}"
        );
        let own = grpc_service_name(service);
        assert_eq!(
            sandbox.health(service, own).await,
            ServingStatus::Serving,
            "{service}"
        );

        let listed = reflected_services(&sandbox, service).await;
        assert!(
            listed.iter().any(|s| s == own),
            "{service} reflects {listed:?}"
        );
        assert!(
            listed.iter().any(|s| s == "grpc.health.v1.Health"),
            "{listed:?}"
        );

        let metrics = scrape_metrics(sandbox.metrics_addr(service)).await;
        let build = format!(
            "levibot_build_info{{service=\"{service}\",version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(sample(&metrics, &build), Some(1.0), "{metrics}");
        let checks = format!(
            "levibot_grpc_requests_total{{code=\"0\",method=\"/grpc.health.v1.Health/Check\",service=\"{service}\"}}"
        );
        assert_eq!(sample(&metrics, &checks), Some(2.0), "{service}: {metrics}");
    }
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unimplemented_rpcs_are_counted_with_their_code_and_unknown_paths_are_bounded() {
    let sandbox = Sandbox::start().await;
    let mut automl = AutoMlServiceClient::new(sandbox.channel(ServiceName::AutomlCron).await);
    let status = automl
        .list_models(ListModelsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(
        status.message().contains("not available yet"),
        "{}",
        status.message()
    );

    // a path outside the contract, sent by hand
    let mut grpc = tonic::client::Grpc::new(sandbox.channel(ServiceName::AutomlCron).await);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<ListModelsRequest, ListModelsRequest>::default();
    let path = http::uri::PathAndQuery::from_static("/evil.Service/RandomName12345");
    let status = grpc
        .unary(
            tonic::Request::new(ListModelsRequest::default()),
            path,
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);

    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::AutomlCron)).await;
    let listed = "levibot_grpc_requests_total{code=\"12\",method=\"/levibot.v1.AutoMlService/ListModels\",service=\"automl-cron\"}";
    assert_eq!(sample(&metrics, listed), Some(1.0), "{metrics}");
    let unknown =
        "levibot_grpc_requests_total{code=\"12\",method=\"unknown\",service=\"automl-cron\"}";
    assert_eq!(sample(&metrics, unknown), Some(1.0), "{metrics}");
    assert!(!metrics.contains("RandomName12345"), "{metrics}");
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_store_serves_the_configured_launch_profile() {
    let sandbox = Sandbox::start().await;
    let mut client = PolicyStoreServiceClient::new(sandbox.channel(ServiceName::PolicyStore).await);
    let policy = client
        .get_policy(GetPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(policy.profile, "conservative");
    assert_eq!(policy.symbols, ["BTCUSDT", "ETHUSDT", "BNBUSDT"]);
    assert_eq!(policy.max_positions, 3);
    assert_eq!(policy.max_position_usd, "1000");
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_aggregator_sees_the_fleet_and_names_a_stopped_service() {
    let sandbox = Sandbox::start().await;
    let mut client =
        HealthAggregatorServiceClient::new(sandbox.channel(ServiceName::HealthAggregator).await);
    let health = client
        .get_fleet_health(GetFleetHealthRequest {
            timeout_ms: 3000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = health.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 16, "{names:?}");
    // The infrastructure and every service answer (the model check fails on this default
    // config: signal source `ai` and no model yet).
    for check in &health.checks {
        if check.name == "redis" || check.name == "postgresql" || check.name.starts_with("service:")
        {
            assert!(check.ok, "{check:?}");
        }
    }
    assert!(
        names.contains(&"redis") && names.contains(&"postgresql"),
        "{names:?}"
    );

    sandbox.stop_service(ServiceName::Portfolio);
    // the listener closes once the service has stopped
    let deadline = Instant::now() + Duration::from_secs(5);
    let failed = loop {
        let health = client
            .get_fleet_health(GetFleetHealthRequest {
                timeout_ms: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let failed: Vec<_> = health
            .checks
            .into_iter()
            .filter(|c| !c.ok && c.name.starts_with("service:"))
            .map(|c| c.name)
            .collect();
        if !failed.is_empty() || Instant::now() > deadline {
            assert!(!health.ok);
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed, ["service:portfolio"]);
    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::HealthAggregator)).await;
    assert_eq!(
        sample(
            &metrics,
            "levibot_fleet_check_ok{check=\"service:portfolio\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "levibot_fleet_check_ok{check=\"redis\"}"),
        Some(1.0)
    );
    drop(client);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_quick_and_leaves_no_task_behind() {
    let runtime = tokio::runtime::Handle::current();
    let before = runtime.metrics().num_alive_tasks();
    let sandbox = Sandbox::start().await;
    for service in ServiceName::ALL {
        assert_eq!(sandbox.health(service, "").await, ServingStatus::Serving);
    }
    // an open server stream must not hold shutdown up
    let mut watcher =
        PolicyStoreServiceClient::new(sandbox.channel(ServiceName::PolicyStore).await);
    let mut watch = watcher
        .watch_policy(levibot_proto::v1::WatchPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(watch.message().await.unwrap().is_some());

    let started = Instant::now();
    sandbox.shutdown().await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    // the watch ends cleanly instead of hanging
    assert!(matches!(watch.message().await, Ok(None) | Err(_)));
    drop(watch);
    drop(watcher);

    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let alive = runtime.metrics().num_alive_tasks();
        if alive <= before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{alive} tasks alive after shutdown, {before} before"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
