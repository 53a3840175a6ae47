//! The checks of undelivered events: each service's disk buffer (scraped from its `/metrics`)
//! and each consumer group's lag on the Redis streams (`XINFO GROUPS`).

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use futures::future::join_all;
use levibot_bus::Topic;
use levibot_config::{Config, ServiceEndpoint, ServiceName, redact_url};
use redis::streams::StreamInfoGroupsReply;

use crate::{
    checks::{INNER_SLACK, chain},
    http::{get_text, http_client},
};

/// A consumer group further behind than this many entries makes the fleet DEGRADED.
pub const MAX_CONSUMER_LAG: u64 = 1_000;

/// The gauge every bus exports with the events waiting in its disk buffer, by class
/// (`BusMetrics::buffer_pending` under the registry's `levibot_` prefix).
pub const BUFFER_PENDING_METRIC: &str = "levibot_bus_buffer_pending";

/// The `/metrics` URL of a service: the host it is dialled at (`grpc_url`, else its gRPC
/// listen address, `0.0.0.0` read as loopback) with the port of `metrics_listen`.
pub fn metrics_url(endpoint: &ServiceEndpoint) -> String {
    let port = endpoint.metrics_listen.port();
    let host = endpoint
        .grpc_url
        .as_deref()
        .and_then(|url| url.parse::<http::Uri>().ok())
        .and_then(|uri| uri.host().map(str::to_owned));
    match host {
        Some(host) => format!("http://{host}:{port}/metrics"),
        None => {
            let mut addr = endpoint.metrics_listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
            }
            format!("http://{addr}/metrics")
        }
    }
}

/// The disk-buffer backlog in a Prometheus text page: events pending per class, or `None`
/// when the page has no such gauge (the service has no disk buffer).
pub fn buffer_backlog(metrics: &str) -> Option<BTreeMap<String, i64>> {
    let mut classes = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(BUFFER_PENDING_METRIC) else {
            continue;
        };
        // `{class="critical"} 3`, or ` 3` without labels
        let (labels, value) = match rest.strip_prefix('{') {
            Some(labelled) => match labelled.split_once('}') {
                Some((labels, value)) => (labels, value),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let class = labels
            .split(',')
            .find_map(|l| l.strip_prefix("class=\""))
            .map_or("all", |c| c.trim_end_matches('"'));
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a gauge of event counts: integral, far below i64::MAX"
        )]
        let count = value as i64;
        *classes.entry(class.to_owned()).or_insert(0) += count;
    }
    (!classes.is_empty()).then_some(classes)
}

/// Disk buffer drained: no service has buffered events waiting for Redis.
pub(crate) async fn check_disk_buffer(
    config: &Config,
    timeout: Duration,
) -> Result<String, String> {
    if config.bus.redis_url.is_none() {
        return Ok("in-process bus: nothing is buffered on disk".to_owned());
    }
    let client = http_client()?;
    let scrapes = join_all(ServiceName::ALL.into_iter().map(|service| {
        let url = metrics_url(config.services.endpoint(service));
        let client = &client;
        async move {
            let page = get_text(client, &url, timeout + INNER_SLACK)
                .await
                .map_err(|e| format!("{url}: {e}"));
            (service, page)
        }
    }))
    .await;
    let mut problems = Vec::new();
    let mut unreachable: Vec<(ServiceName, String)> = Vec::new();
    let mut buffered_services = 0;
    for (service, page) in scrapes {
        match page {
            Err(problem) => unreachable.push((service, problem)),
            Ok(page) => {
                let Some(classes) = buffer_backlog(&page) else {
                    continue;
                };
                buffered_services += 1;
                let total: i64 = classes.values().sum();
                if total > 0 {
                    let by_class: Vec<String> = classes
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(class, n)| format!("{class} {n}"))
                        .collect();
                    problems.push(format!(
                        "{service}: {total} events buffered ({})",
                        by_class.join(", ")
                    ));
                }
            }
        }
    }
    if let Some((_, first)) = unreachable.first() {
        let names: Vec<&str> = unreachable.iter().map(|(s, _)| s.as_str()).collect();
        problems.push(format!(
            "backlog unknown, /metrics unreachable for {} (first: {first})",
            names.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(format!(
            "drained: {buffered_services} services with a disk buffer, 0 events waiting"
        ))
    } else {
        Err(problems.join("; "))
    }
}

/// One consumer group's position on one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLag {
    /// The topic.
    pub topic: Topic,
    /// The consumer group.
    pub group: String,
    /// Entries not yet delivered to the group (`None`: Redis cannot tell).
    pub lag: Option<u64>,
    /// Entries delivered and not acknowledged.
    pub pending: u64,
}

/// Whether no group lags by more than `max_lag`.
pub fn judge_lag(groups: &[GroupLag], max_lag: u64) -> Result<String, String> {
    let behind: Vec<String> = groups
        .iter()
        .filter(|g| g.lag.is_some_and(|lag| lag > max_lag))
        .map(|g| {
            format!(
                "{}/{} lags {} entries ({} pending)",
                g.topic,
                g.group,
                g.lag.unwrap_or_default(),
                g.pending
            )
        })
        .collect();
    if !behind.is_empty() {
        return Err(format!("limit {max_lag}: {}", behind.join(", ")));
    }
    let worst = groups.iter().max_by_key(|g| g.lag.unwrap_or_default());
    Ok(match worst {
        None => "no consumer groups yet".to_owned(),
        Some(g) => format!(
            "{} groups, most behind: {}/{} lag {} ({} pending)",
            groups.len(),
            g.topic,
            g.group,
            g.lag.unwrap_or_default(),
            g.pending
        ),
    })
}

/// Bus lag: `XINFO GROUPS` on every topic's stream; no group may lag by more than
/// [`MAX_CONSUMER_LAG`] entries.
pub(crate) async fn check_bus_lag(config: &Config) -> Result<String, String> {
    let Some(url) = &config.bus.redis_url else {
        return Ok("in-process bus: consumers read in step".to_owned());
    };
    let shown = redact_url(url);
    let client =
        redis::Client::open(url.as_str()).map_err(|e| format!("{shown}: {}", chain(&e)))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("cannot connect to {shown}: {}", chain(&e)))?;
    let mut groups = Vec::new();
    for topic in Topic::ALL {
        let key = topic.stream_key(&config.bus.key_prefix);
        let reply: Result<StreamInfoGroupsReply, redis::RedisError> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&key)
            .query_async(&mut conn)
            .await;
        match reply {
            Ok(reply) => groups.extend(reply.groups.into_iter().map(|g| GroupLag {
                topic,
                group: g.name,
                lag: g.lag.map(|l| u64::try_from(l).unwrap_or(u64::MAX)),
                pending: u64::try_from(g.pending).unwrap_or(u64::MAX),
            })),
            // nobody published or subscribed on this topic yet
            Err(err) if err.to_string().contains("no such key") => {}
            Err(err) => return Err(format!("XINFO GROUPS {key} on {shown}: {}", chain(&err))),
        }
    }
    judge_lag(&groups, MAX_CONSUMER_LAG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_is_read_per_class() {
        let page = "\
# HELP levibot_bus_buffer_pending buffered events waiting for redis
# TYPE levibot_bus_buffer_pending gauge
levibot_bus_buffer_pending{class=\"critical\"} 3
levibot_bus_buffer_pending{class=\"market_data\"} 0
levibot_bus_buffer_pending_other 9
levibot_bus_buffer_bytes{class=\"critical\"} 4096
";
        let classes = buffer_backlog(page).unwrap();
        assert_eq!(classes.len(), 2);
        assert_eq!(classes["critical"], 3);
        assert_eq!(classes["market_data"], 0);
        assert_eq!(buffer_backlog("levibot_build_info 1\n"), None);
    }

    #[test]
    fn metrics_url_uses_the_dialled_host_and_the_metrics_port() {
        let mut endpoint = ServiceName::Backend.default_endpoint();
        assert_eq!(metrics_url(&endpoint), "http://127.0.0.1:9101/metrics");
        endpoint.metrics_listen = "0.0.0.0:9101".parse().unwrap();
        assert_eq!(metrics_url(&endpoint), "http://127.0.0.1:9101/metrics");
        endpoint.grpc_url = Some("http://backend.levibot.svc:50051".into());
        assert_eq!(
            metrics_url(&endpoint),
            "http://backend.levibot.svc:9101/metrics"
        );
    }

    #[test]
    fn lag_above_the_limit_fails_naming_the_group() {
        let group = |topic, group: &str, lag, pending| GroupLag {
            topic,
            group: group.into(),
            lag,
            pending,
        };
        let groups = [
            group(Topic::MdBar, "trade-store", Some(12), 3),
            group(Topic::Fill, "portfolio", None, 0),
        ];
        assert_eq!(
            judge_lag(&groups, 100).unwrap(),
            "2 groups, most behind: md.bar/trade-store lag 12 (3 pending)"
        );
        let err = judge_lag(&groups, 10).unwrap_err();
        assert_eq!(
            err,
            "limit 10: md.bar/trade-store lags 12 entries (3 pending)"
        );
        assert_eq!(judge_lag(&[], 10).unwrap(), "no consumer groups yet");
    }

    #[tokio::test]
    async fn lag_is_read_from_redis() {
        let prefix = format!("levibot-health-test-lag-{}:", std::process::id());
        let config = levibot_config::ConfigLoader::new()
            .set("bus.redis_url", "redis://127.0.0.1:6379")
            .set("bus.key_prefix", &prefix)
            .load()
            .unwrap();
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = Topic::Signal.stream_key(&prefix);
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg("slow")
            .arg("$")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut pipe = redis::pipe();
        for i in 0..(MAX_CONSUMER_LAG + 5) {
            pipe.cmd("XADD").arg(&key).arg("*").arg("n").arg(i).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.unwrap();
        let err = check_bus_lag(&config).await.unwrap_err();
        assert!(err.contains("signal/slow lags 1005 entries"), "{err}");
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            check_bus_lag(&config).await.unwrap(),
            "no consumer groups yet"
        );
    }
}
