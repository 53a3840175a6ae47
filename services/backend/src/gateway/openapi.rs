//! `GET /openapi.json`: the OpenAPI 3.1 document of the gateway, built from [`ROUTES`].

use serde_json::{Map, Value, json};

/// One documented route.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path with `{param}` placeholders.
    pub path: &'static str,
    /// The least role that may call it (`None`: public).
    pub role: Option<&'static str>,
    /// One line on what it does.
    pub summary: &'static str,
    /// Query parameters: (name, type, required, description).
    pub query: &'static [(&'static str, &'static str, bool, &'static str)],
    /// The service that answers it over gRPC, when it is not the backend itself.
    pub upstream: Option<&'static str>,
}

const SYMBOL: &str = "symbol";

/// Every route the gateway serves.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "get",
        path: "/engines/status",
        role: Some("viewer"),
        summary: "Status of every engine",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "get",
        path: "/engines/status/{symbol}",
        role: Some("viewer"),
        summary: "Status of one engine",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "post",
        path: "/engines/start/{symbol}",
        role: Some("trader"),
        summary: "Start a symbol's engine (persisted: it resumes after a backend restart)",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "post",
        path: "/engines/stop/{symbol}",
        role: Some("trader"),
        summary: "Stop a symbol's engine (persisted)",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "post",
        path: "/engines/restart/{symbol}",
        role: Some("trader"),
        summary: "Restart a symbol's engine",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "get",
        path: "/risk",
        role: Some("viewer"),
        summary: "Risk manager state: switches, ESS, limits, usage, refusals by reason",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "post",
        path: "/live/kill",
        role: Some("trader"),
        summary: "Engage (trader) or release (admin) the kill switch",
        query: &[
            (
                "on",
                "boolean",
                true,
                "true engages the switch, false releases it",
            ),
            ("reason", "string", true, "why (written to the audit log)"),
        ],
        upstream: None,
    },
    RouteDoc {
        method: "post",
        path: "/trading/enable",
        role: Some("admin"),
        summary: "Enable trading fleet-wide",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "post",
        path: "/trading/disable",
        role: Some("trader"),
        summary: "Disable trading fleet-wide",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "get",
        path: "/orders",
        role: Some("viewer"),
        summary: "Orders over a time range (default: the last 24 hours, at most 31 days)",
        query: &[
            ("symbol", "string", false, "only this symbol"),
            ("from", "integer", false, "start, epoch ms (inclusive)"),
            ("to", "integer", false, "end, epoch ms (exclusive)"),
        ],
        upstream: None,
    },
    RouteDoc {
        method: "get",
        path: "/fills",
        role: Some("viewer"),
        summary: "Fills over a time range (default: the last 24 hours, at most 31 days)",
        query: &[
            ("symbol", "string", false, "only this symbol"),
            ("from", "integer", false, "start, epoch ms (inclusive)"),
            ("to", "integer", false, "end, epoch ms (exclusive)"),
        ],
        upstream: None,
    },
    RouteDoc {
        method: "get",
        path: "/ws",
        role: Some("viewer"),
        summary: "WebSocket: batched JSON arrays of live events (engine, signal, order, fill, gates)",
        query: &[],
        upstream: None,
    },
    RouteDoc {
        method: "get",
        path: "/portfolio",
        role: Some("viewer"),
        summary: "Cash, equity, realized and unrealized PnL, fees, reconciliation state",
        query: &[],
        upstream: Some("portfolio"),
    },
    RouteDoc {
        method: "get",
        path: "/positions",
        role: Some("viewer"),
        summary: "Open positions marked to the latest bar",
        query: &[],
        upstream: Some("portfolio"),
    },
    RouteDoc {
        method: "get",
        path: "/equity",
        role: Some("viewer"),
        summary: "Equity snapshots over a time range (default: the last 7 days)",
        query: &[
            ("from", "integer", false, "start, epoch ms (inclusive)"),
            ("to", "integer", false, "end, epoch ms (exclusive)"),
        ],
        upstream: Some("portfolio"),
    },
    RouteDoc {
        method: "get",
        path: "/exposure",
        role: Some("viewer"),
        summary: "Exposure per symbol and in total (USD)",
        query: &[],
        upstream: Some("portfolio"),
    },
    RouteDoc {
        method: "get",
        path: "/policy",
        role: Some("viewer"),
        summary: "The risk policy in force, with its version",
        query: &[],
        upstream: Some("policy-store"),
    },
    RouteDoc {
        method: "get",
        path: "/ess",
        role: Some("viewer"),
        summary: "Emergency stop system state (ARMED, TRIPPED, RESETTING), trigger, cooldown",
        query: &[],
        upstream: Some("policy-store"),
    },
    RouteDoc {
        method: "post",
        path: "/ess/trip",
        role: Some("trader"),
        summary: "Trip the emergency stop: every new order is blocked fleet-wide",
        query: &[("reason", "string", true, "why (written to the audit log)")],
        upstream: Some("policy-store"),
    },
    RouteDoc {
        method: "post",
        path: "/ess/reset",
        role: Some("admin"),
        summary: "Reset a tripped ESS: after its cooldown, and only when the breach no longer holds",
        query: &[("reason", "string", true, "why (written to the audit log)")],
        upstream: Some("policy-store"),
    },
    RouteDoc {
        method: "get",
        path: "/health/cluster",
        role: Some("viewer"),
        summary: "The whole fleet's health, checked now: OK, DEGRADED or DOWN with reasons",
        query: &[],
        upstream: Some("health-aggregator"),
    },
    RouteDoc {
        method: "get",
        path: "/openapi.json",
        role: None,
        summary: "This document",
        query: &[],
        upstream: None,
    },
];

/// The document.
#[must_use]
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut parameters: Vec<Value> = Vec::new();
        if route.path.contains("{symbol}") {
            parameters.push(json!({
                "name": SYMBOL, "in": "path", "required": true,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,20}$"},
                "description": "an exchange symbol from risk.symbols, e.g. BTCUSDT",
            }));
        }
        for (name, kind, required, description) in route.query {
            parameters.push(json!({
                "name": name, "in": "query", "required": required,
                "schema": {"type": kind}, "description": description,
            }));
        }
        let mut responses = json!({
            "200": {"description": "OK", "content": {"application/json": {}}},
            "400": {"$ref": "#/components/responses/Error"},
        });
        let mut operation = json!({
            "summary": route.summary,
            "operationId": format!("{}_{}", route.method, route.path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
            "parameters": parameters,
        });
        if let Some(role) = route.role {
            operation["security"] = json!([{"bearer": []}, {"apiKey": []}]);
            operation["x-required-role"] = json!(role);
            responses["401"] = json!({"$ref": "#/components/responses/Error"});
            responses["403"] = json!({"$ref": "#/components/responses/Error"});
            // The key cannot be verified: the trade-store is unreachable.
            responses["503"] = json!({"$ref": "#/components/responses/Error"});
        }
        if route.method == "post" {
            responses["413"] = json!({"$ref": "#/components/responses/Error"});
        }
        if route.path.contains("{symbol}") {
            responses["404"] = json!({"$ref": "#/components/responses/Error"});
        }
        operation["responses"] = responses;
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "LeviBot backend gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Engines, risk, trading switches, orders and fills. Authenticate with an API key from `levibot apikey create --role viewer|trader|admin`; every mutating call is audited.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["error", "message"],
                        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                    }}},
                },
            },
        },
    })
}
