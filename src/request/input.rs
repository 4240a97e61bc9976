//! Reading a request body through the request's input filters (Apache's `ap_get_brigade`
//! down the input chain): LimitRequestBody on the bytes as sent, then each stage the chain's
//! filters started for this body (DEFLATE inflates a gzip body), then the handler's sink. The
//! default handler reads this way to discard; a handler that wants the body (CGI, a proxy)
//! passes a sink that keeps it.

use super::{BodyError, ReadBody, Request, Step};
use crate::filters::{InputStage, Sink};

/// Reads the rest of the body, handing each piece the filters make of it to `sink`; the
/// status to answer with when the body, a filter or the sink refuses it.
pub(crate) fn read_body(req: &mut Request, limit: u64, sink: &mut Sink) -> Step<()> {
    let Some(mut read) = req.unread_body.take() else {
        return Ok(());
    };
    let chain = req.input_chain.0.clone();
    let mut stages: Vec<Box<dyn InputStage>> = chain
        .iter()
        .filter_map(|filter| filter.start(req))
        .collect();
    // Only the first stage reads the connection itself.
    let first = stages.first().and_then(|s| s.first_read()).unwrap_or(0);
    let mut raw: u64 = 0;
    let mut over_limit = false;
    let result = read(first, &mut |piece| {
        raw += piece.len() as u64;
        if limit > 0 && raw > limit {
            over_limit = true;
            return Err(413);
        }
        pass_on(&mut stages, piece, sink)
    });
    let result = result.and_then(|read| {
        finish(&mut stages, sink)
            .map(|()| read)
            .map_err(BodyError::Status)
    });
    for stage in stages {
        stage.close(req, result.is_ok());
    }
    match result {
        Ok(ReadBody { length, trailers }) => {
            // MergeTrailers On: what followed a chunked body reads as request headers.
            let merge = req.rt.servers[0].runtime.core.merge_trailers == Some(true);
            if merge && !trailers.is_empty() {
                req.head.to_mut().headers.0.extend(trailers);
            }
            req.body_length = length;
            Ok(())
        }
        Err(error) => {
            req.filter_error = over_limit || error == BodyError::Framing;
            Err(error.status())
        }
    }
}

/// One piece through the stages in order, the last handing to the sink.
fn pass_on(stages: &mut [Box<dyn InputStage>], piece: &[u8], sink: &mut Sink) -> Result<(), u16> {
    match stages.split_first_mut() {
        None => sink(piece),
        Some((first, rest)) => first.feed(piece, &mut |out| pass_on(rest, out, sink)),
    }
}

/// The end of the body through the stages: each finishes into the ones after it, which then
/// finish in turn.
fn finish(stages: &mut [Box<dyn InputStage>], sink: &mut Sink) -> Result<(), u16> {
    match stages.split_first_mut() {
        None => Ok(()),
        Some((first, rest)) => {
            first.finish(&mut |out| pass_on(rest, out, sink))?;
            finish(rest, sink)
        }
    }
}
