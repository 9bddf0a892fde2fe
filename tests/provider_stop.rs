//! Stop over the wire: Terraform sends the Stop RPC and waits for its in-flight RPCs to
//! return. Each test serves the protocol-5 service over loopback gRPC, the way the plugin
//! host does, and prints the latency from Stop to the in-flight RPC returning.
//!
//! The 1 s bound is a correctness check (Stop is honoured at all), not a speed target; the
//! numbers are printed for reading (`cargo test --test provider_stop -- --nocapture`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tonic::codegen::http::uri::PathAndQuery;

use freetier::framework::*;
use freetier::tfplugin5::proto;
use freetier::tfplugin5::Tfplugin5Service;

/// A create that takes an hour: `Watching` gives up when Stop arrives and reports what it
/// did; `Deaf` never looks at the token.
#[derive(Clone, Copy)]
enum Slow {
    Watching,
    Deaf,
}

#[async_trait]
impl Resource for Slow {
    fn type_name(&self) -> &'static str {
        "test_slow"
    }
    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("slow")
                .attribute(Attribute::string("id").computed().description("id"))
                .attribute(Attribute::string("name").required().description("name")),
        }
    }
    async fn create(&self, ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
        let hour = tokio::time::sleep(Duration::from_secs(3600));
        match self {
            Slow::Deaf => hour.await,
            Slow::Watching => tokio::select! {
                _ = hour => {}
                _ = ctx.cancel.cancelled() => {
                    resp.state = req.planned;
                    resp.state.set_attr("id", Value::from("half-built"));
                    resp.diagnostics.error("Interrupted", "stopped by Terraform");
                }
            },
        }
    }
    async fn read(&self, _: &Ctx, _: ReadRequest, _: &mut StateResponse) {}
    async fn update(&self, _: &Ctx, _: UpdateRequest, _: &mut StateResponse) {}
    async fn delete(&self, _: &Ctx, _: DeleteRequest, _: &mut StateResponse) {}
}

struct TestProvider(Slow);

#[async_trait]
impl Provider for TestProvider {
    fn type_name(&self) -> &'static str {
        "test"
    }
    fn schema(&self) -> Schema {
        Schema::default()
    }
    async fn configure(&self, _: &Ctx, _: &Value, _: &mut Diagnostics) -> Option<ProviderData> {
        None
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(self.0)]
    }
}

/// Serves `resource` over loopback gRPC; returns a connected client channel.
async fn serve(resource: Slow) -> tonic::transport::Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(Arc::new(TestProvider(resource))));
    let svc = proto::provider_server::ProviderServer::new(Tfplugin5Service::new(server));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn unary<Req, Resp>(channel: tonic::transport::Channel, path: &'static str, req: Req) -> Resp
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    grpc.unary(
        tonic::Request::new(req),
        PathAndQuery::from_static(path),
        codec,
    )
    .await
    .unwrap()
    .into_inner()
}

fn dynamic(v: &Value) -> Option<proto::DynamicValue> {
    let ty = Type::object([("id", Type::String), ("name", Type::String)]);
    Some(proto::DynamicValue {
        msgpack: msgpack::encode(v, &ty).unwrap(),
        json: Vec::new(),
    })
}

fn create_request() -> proto::apply_resource_change::Request {
    let planned = Value::object([("id", Value::Unknown), ("name", Value::from("a"))]);
    let config = Value::object([("id", Value::Null), ("name", Value::from("a"))]);
    proto::apply_resource_change::Request {
        type_name: "test_slow".into(),
        prior_state: dynamic(&Value::Null),
        planned_state: dynamic(&planned),
        config: dynamic(&config),
        ..Default::default()
    }
}

async fn apply(channel: tonic::transport::Channel) -> proto::apply_resource_change::Response {
    unary(
        channel,
        "/tfplugin5.Provider/ApplyResourceChange",
        create_request(),
    )
    .await
}

async fn stop(channel: tonic::transport::Channel) {
    let resp: proto::stop::Response =
        unary(channel, "/tfplugin5.Provider/Stop", proto::stop::Request {}).await;
    assert_eq!(resp.error, "");
}

/// Starts an apply, sends Stop while it runs, and returns the apply's response with the time
/// from sending Stop to the apply returning.
async fn stop_during_apply(resource: Slow) -> (proto::apply_resource_change::Response, Duration) {
    let channel = serve(resource).await;
    let running = tokio::spawn(apply(channel.clone()));
    // The create is under way once the RPC has had time to reach it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!running.is_finished(), "the create takes an hour");
    let sent = Instant::now();
    stop(channel).await;
    let resp = running.await.unwrap();
    (resp, sent.elapsed())
}

fn summaries(d: &[proto::Diagnostic]) -> Vec<&str> {
    d.iter().map(|d| d.summary.as_str()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn stop_returns_an_in_flight_apply_that_watches_it_with_its_partial_state() {
    let (resp, latency) = stop_during_apply(Slow::Watching).await;
    println!("Stop → ApplyResourceChange returned (resource watches Stop): {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(summaries(&resp.diagnostics), ["Interrupted"]);
    let ty = Type::object([("id", Type::String), ("name", Type::String)]);
    let state = msgpack::decode(&resp.new_state.unwrap().msgpack, &ty).unwrap();
    assert_eq!(
        state.attr("id"),
        &Value::from("half-built"),
        "kept for Terraform to save"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn stop_returns_an_in_flight_apply_even_when_the_resource_ignores_it() {
    let (resp, latency) = stop_during_apply(Slow::Deaf).await;
    println!("Stop → ApplyResourceChange returned (resource ignores Stop): {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(summaries(&resp.diagnostics), ["Operation Cancelled"]);
    assert!(
        resp.diagnostics[0].detail.contains("abandoned"),
        "{}",
        resp.diagnostics[0].detail
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_apply_that_arrives_after_stop_is_cancelled_without_running() {
    let channel = serve(Slow::Deaf).await;
    stop(channel.clone()).await;
    let sent = Instant::now();
    let resp = apply(channel).await;
    let latency = sent.elapsed();
    println!("ApplyResourceChange sent after Stop returned in {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(summaries(&resp.diagnostics), ["Operation Cancelled"]);
    assert!(
        resp.diagnostics[0].detail.contains("did not start"),
        "{}",
        resp.diagnostics[0].detail
    );
}
