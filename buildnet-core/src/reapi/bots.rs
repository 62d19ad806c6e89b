//! The Remote Workers API (`google.devtools.remoteworkers.v1test2`, the Bots service that
//! BuildGrid and Buildbarn's older workers speak): the messages a bot sends and reads, with
//! the official proto's field numbers (the published REAPI crate does not carry this API),
//! and a client of its two calls.

use prost::Message;
use tonic::transport::Channel;

use super::{pb, rpc};

#[derive(Clone, PartialEq, Message)]
pub struct BotSession {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub bot_id: String,
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(message, optional, tag = "4")]
    pub worker: Option<Worker>,
    #[prost(message, repeated, tag = "5")]
    pub leases: Vec<Lease>,
    #[prost(message, optional, tag = "6")]
    pub expire_time: Option<pb::Timestamp>,
    #[prost(string, tag = "7")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Lease {
    #[prost(string, tag = "7")]
    pub id: String,
    #[prost(message, optional, tag = "8")]
    pub payload: Option<pb::Any>,
    #[prost(message, optional, tag = "9")]
    pub result: Option<pb::Any>,
    #[prost(int32, tag = "2")]
    pub state: i32,
    #[prost(message, optional, tag = "3")]
    pub status: Option<rpc::Status>,
    #[prost(message, optional, tag = "4")]
    pub requirements: Option<Worker>,
    #[prost(message, optional, tag = "5")]
    pub expire_time: Option<pb::Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Worker {
    #[prost(message, repeated, tag = "1")]
    pub devices: Vec<Device>,
    #[prost(message, repeated, tag = "2")]
    pub properties: Vec<Property>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Device {
    #[prost(string, tag = "1")]
    pub handle: String,
    #[prost(message, repeated, tag = "2")]
    pub properties: Vec<Property>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Property {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct CreateBotSessionRequest {
    #[prost(string, tag = "1")]
    pub parent: String,
    #[prost(message, optional, tag = "2")]
    pub bot_session: Option<BotSession>,
}

#[derive(Clone, PartialEq, Message)]
pub struct UpdateBotSessionRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub bot_session: Option<BotSession>,
}

/// `LeaseState`.
pub mod lease_state {
    pub const PENDING: i32 = 1;
    pub const ACTIVE: i32 = 2;
    pub const COMPLETED: i32 = 4;
    pub const CANCELLED: i32 = 5;
}

/// `BotStatus`.
pub mod bot_status {
    pub const OK: i32 = 1;
    pub const BOT_TERMINATING: i32 = 4;
}

/// The type URL of a packed message, as `Any` names it.
pub fn type_url(full_name: &str) -> String {
    format!("type.googleapis.com/{full_name}")
}

/// A client of the Bots service.
#[derive(Clone)]
pub struct BotsClient {
    inner: tonic::client::Grpc<Channel>,
}

impl BotsClient {
    pub fn new(channel: Channel) -> BotsClient {
        BotsClient {
            inner: tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20),
        }
    }

    async fn unary<Req, Resp>(
        &mut self,
        method: &'static str,
        request: tonic::Request<Req>,
    ) -> Result<Resp, tonic::Status>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        self.inner
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("the engine is not ready: {e}")))?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
        Ok(self.inner.unary(request, path, codec).await?.into_inner())
    }

    pub async fn create_bot_session(
        &mut self,
        request: tonic::Request<CreateBotSessionRequest>,
    ) -> Result<BotSession, tonic::Status> {
        self.unary(
            "/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession",
            request,
        )
        .await
    }

    pub async fn update_bot_session(
        &mut self,
        request: tonic::Request<UpdateBotSessionRequest>,
    ) -> Result<BotSession, tonic::Status> {
        self.unary(
            "/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession",
            request,
        )
        .await
    }
}
