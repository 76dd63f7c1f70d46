//! Reading a request body under two limits: the channel's `max_body_size` (the caller's fault
//! when passed: 413) and the listener's in-flight body budget (the server protecting itself when
//! passed: 503 with `Retry-After`).
//!
//! The budget counts the bytes of every body being read or held by a request in flight on one
//! listener. A declared `Content-Length` is reserved whole before the first byte is read, so a
//! client announcing 10 MiB and sending one byte a minute holds its 10 MiB of budget from the
//! start; a chunked body is counted as its chunks arrive. The reservation is released when the
//! request has been answered.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use zato_core::ServiceError;
use zato_core::sio::SioError;

/// The default [`HttpServer::set_body_memory_budget`](crate::HttpServer::set_body_memory_budget):
/// 256 MiB of request bodies in flight per listener.
pub const DEFAULT_BODY_MEMORY_BUDGET: u64 = 256 * 1024 * 1024;

/// How many seconds a caller refused for want of body memory is told to wait before retrying.
pub(super) const RETRY_AFTER_SECS: u64 = 5;

/// The in-flight body memory of one listener: a limit, and what requests hold of it.
#[derive(Debug)]
pub(super) struct BodyBudget {
    limit: AtomicU64,
    used: AtomicU64,
}

impl BodyBudget {
    pub(super) fn new(limit: u64) -> Self {
        BodyBudget {
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(0),
        }
    }

    pub(super) fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    pub(super) fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Bytes held now by the requests in flight.
    pub(super) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` more bytes of the budget, or nothing when they would pass the limit.
    fn try_take(&self, n: u64) -> bool {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The part of the budget one request holds, given back when it is dropped.
#[derive(Debug)]
pub(super) struct Reservation<'b> {
    budget: &'b BodyBudget,
    held: u64,
}

impl<'b> Reservation<'b> {
    pub(super) fn new(budget: &'b BodyBudget) -> Self {
        Reservation { budget, held: 0 }
    }

    /// Holds `n` more bytes, or fails with the 503 that says why.
    fn grow(&mut self, n: u64) -> Result<(), BodyError> {
        if n == 0 {
            return Ok(());
        }
        if self.budget.try_take(n) {
            self.held += n;
            Ok(())
        } else {
            Err(BodyError::OverBudget)
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.give_back(self.held);
        }
    }
}

/// Why a body was not read.
#[derive(Debug)]
pub(super) enum BodyError {
    /// The caller's fault: too large, or not readable as HTTP framing says.
    Caller(ServiceError),
    /// The listener's body budget is spent: 503 with `Retry-After`.
    OverBudget,
}

impl BodyError {
    /// The error the caller is answered with.
    pub(super) fn into_service_error(self) -> ServiceError {
        match self {
            BodyError::Caller(e) => e,
            BodyError::OverBudget => ServiceError::Unavailable(
                "the server is receiving too many request bodies at once; retry later".into(),
            ),
        }
    }
}

/// A body arriving in pieces is gathered in blocks of at most this size, allocated as its bytes
/// arrive. One buffer of the declared size, allocated up front, would be resident whole from
/// the start whenever the allocator hands back memory a finished body had filled: 25 slow
/// 10 MiB uploads then held 250 MiB from their first byte, and the allocator kept freed
/// 10 MiB buffers beside them, past the budget by more than 50 MiB.
const BLOCK: usize = 1024 * 1024;

/// The pieces of a body that came in more than one frame, copied into blocks of [`BLOCK`]
/// bytes (one block of the declared size when it is smaller), then joined once it is whole.
#[derive(Debug, Default)]
struct Gathered {
    /// Full blocks, in order.
    full: Vec<Bytes>,
    /// The block being filled.
    current: BytesMut,
    /// Bytes gathered so far.
    len: usize,
}

impl Gathered {
    /// Appends `data`; `declared` is the body's `Content-Length`, if it has one, to size the
    /// blocks of a body smaller than one.
    fn push(&mut self, mut data: &[u8], declared: Option<u64>) {
        self.len += data.len();
        while !data.is_empty() {
            if self.current.len() == self.current.capacity() {
                if !self.current.is_empty() {
                    self.full.push(self.current.split().freeze());
                }
                let size = declared
                    .and_then(|d| usize::try_from(d).ok())
                    .filter(|d| *d <= BLOCK && self.full.is_empty())
                    .unwrap_or(BLOCK)
                    .max(data.len().min(BLOCK));
                self.current = BytesMut::with_capacity(size);
            }
            let room = self.current.capacity() - self.current.len();
            let (now, rest) = data.split_at(room.min(data.len()));
            self.current.extend_from_slice(now);
            data = rest;
        }
    }

    /// The whole body. A body of one block is that block; a larger one is copied into one
    /// buffer, each block freed as soon as it is copied.
    fn join(self) -> Bytes {
        if self.full.is_empty() {
            return self.current.freeze();
        }
        let mut out = BytesMut::with_capacity(self.len);
        for block in self.full {
            out.extend_from_slice(&block);
        }
        out.extend_from_slice(&self.current);
        out.freeze()
    }
}

/// Collects the body, refusing one over `max_body_size` by its Content-Length at once, or while
/// reading when the length is not declared; and one the budget cannot hold, before reading it
/// when its length is declared, as it arrives otherwise.
///
/// A body arriving in one piece, the usual case for small requests, is handed on without a
/// copy; one arriving in pieces is gathered into blocks as it arrives (see [`BLOCK`]), and
/// joined into one buffer when it is whole if it took more than one block.
pub(super) async fn read_body(
    max_body_size: u64,
    mut body: Incoming,
    reservation: &mut Reservation<'_>,
) -> Result<Bytes, BodyError> {
    let too_large = || {
        BodyError::Caller(
            SioError::PayloadTooLarge {
                limit: usize::try_from(max_body_size).unwrap_or(usize::MAX),
            }
            .into(),
        )
    };
    // The declared length, as hyper read it from the framing (`Content-Length`, which it has
    // checked, never beside `Transfer-Encoding`): no second parse of the header.
    let declared = hyper::body::Body::size_hint(&body).exact();
    if let Some(len) = declared {
        if len > max_body_size {
            return Err(too_large());
        }
        reservation.grow(len)?;
    }
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<Gathered> = None;
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            BodyError::Caller(ServiceError::bad_request(format!(
                "could not read the request body: {e}"
            )))
        })?;
        // Trailers carry no body bytes.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        total = total.saturating_add(len);
        if total > max_body_size {
            return Err(too_large());
        }
        if declared.is_none() {
            reservation.grow(len)?;
        }
        if let Some(g) = gathered.as_mut() {
            g.push(&data, declared);
        } else if let Some(head) = first.take() {
            let mut g = Gathered::default();
            g.push(&head, declared);
            g.push(&data, declared);
            gathered = Some(g);
        } else {
            first = Some(data);
        }
    }
    Ok(match (gathered, first) {
        (Some(g), _) => g.join(),
        (None, Some(head)) => head,
        (None, None) => Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = BodyBudget::new(100);
        let mut a = Reservation::new(&budget);
        a.grow(60).unwrap();
        let mut b = Reservation::new(&budget);
        assert!(matches!(b.grow(41), Err(BodyError::OverBudget)));
        b.grow(40).unwrap();
        assert_eq!(budget.used(), 100);
        assert!(matches!(
            Reservation::new(&budget).grow(1),
            Err(BodyError::OverBudget)
        ));
        drop(a);
        assert_eq!(budget.used(), 40);
        Reservation::new(&budget).grow(60).unwrap();
        drop(b);
        assert_eq!(budget.used(), 0);
        budget.set_limit(u64::MAX);
        let mut huge = Reservation::new(&budget);
        huge.grow(u64::MAX).unwrap();
        assert!(matches!(
            Reservation::new(&budget).grow(1),
            Err(BodyError::OverBudget)
        ));
    }

    #[test]
    fn pieces_are_gathered_in_blocks_and_joined_in_order() {
        // Every byte distinct enough that a piece out of place shows.
        let body: Vec<u8> = (0..3 * BLOCK + 12_345).map(|i| (i % 251) as u8).collect();
        for (piece, declared) in [
            (1, None),
            (7, Some(body.len() as u64)),
            (64 * 1024, Some(body.len() as u64)),
            (BLOCK, None),
            (BLOCK + 1, Some(body.len() as u64)),
            (5 * BLOCK, None),
        ] {
            let mut g = Gathered::default();
            for chunk in body
                .chunks(piece)
                .take(if piece == 1 { 3000 } else { usize::MAX })
            {
                g.push(chunk, declared);
            }
            let expected = if piece == 1 { &body[..3000] } else { &body[..] };
            assert!(g.full.iter().all(|b| b.len() == BLOCK), "{piece}");
            assert!(g.current.capacity() <= BLOCK, "{piece}");
            assert_eq!(g.join(), expected, "{piece}");
        }
        // A body smaller than a block takes one block of its declared size: no copy to join.
        let mut g = Gathered::default();
        g.push(b"abc", Some(6));
        g.push(b"def", Some(6));
        assert_eq!((g.full.len(), g.current.capacity()), (0, 6));
        assert_eq!(g.join(), &b"abcdef"[..]);
    }

    #[test]
    fn the_over_budget_error_is_a_503_and_the_callers_are_4xx() {
        assert_eq!(BodyError::OverBudget.into_service_error().status(), 503);
        let big = BodyError::Caller(SioError::PayloadTooLarge { limit: 7 }.into());
        assert_eq!(big.into_service_error().status(), 413);
    }
}
