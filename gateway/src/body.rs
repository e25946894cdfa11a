//! Reading a request body within the gateway's limit. A body over the limit is answered
//! 413, after reading (and discarding) what the client still sends, up to a bound: an
//! HTTP/1 client that writes its whole body before reading the answer would otherwise
//! meet a reset connection instead of the 413.

use crate::errors::{self, ApiError};
use axum::body::{Body, Bytes};
use futures_util::StreamExt;

/// Past the limit, at most this much more is read before the connection is given up.
const DRAIN_MAX: usize = 1 << 20;

/// The whole body, if it is at most `limit` bytes.
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut chunks = body.into_data_stream();
    let mut whole = Vec::new();
    let mut over = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
        if over == 0 && whole.len() + chunk.len() <= limit {
            whole.extend_from_slice(&chunk);
            continue;
        }
        over += chunk.len();
        whole = Vec::new();
        if over > DRAIN_MAX {
            break;
        }
    }
    if over > 0 {
        return Err(errors::too_large(limit));
    }
    Ok(Bytes::from(whole))
}
