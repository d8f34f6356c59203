//! Who may hold a connection: separate budgets for requests being read and for streams, so
//! neither can starve the other.
//!
//! Owns the counts and the [`Ticket`] each connection holds (a drop guard: the counts come back
//! when its thread ends, whatever way it ends, panics included). Requests: at most `requests`
//! connections may be sending a request at once; when all are taken, the one that has been
//! sending longest is cut off if it has had [`GRACE`] already (a slowloris client, one byte every
//! few seconds, holds a place only until someone needs it), else the newcomer gets 503. Streams
//! (`/events`, `/listen`): at most `streams` at once, and at most `per_address` from one
//! non-loopback address (loopback is exempt: a reverse proxy on the same machine speaks for
//! everyone). It does not read or write the connections, except to shut one down when evicting.

use std::collections::HashMap;
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a request may take before a newcomer may take its place when all are taken.
pub const GRACE: Duration = Duration::from_secs(1);

/// The limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections sending their request at once.
    pub requests: usize,
    /// Streams at once.
    pub streams: usize,
    /// Streams from one non-loopback address.
    pub per_address: usize,
}

/// The budgets of one server.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    /// Connections reading a request: id, since when, a handle to cut it off.
    reading: Vec<(u64, Instant, TcpStream)>,
    streams: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every request place is taken by a request younger than [`GRACE`].
    Requests,
    /// Every stream place is taken.
    Streams,
    /// This address holds its share of the streams.
    Address,
}

/// A connection's place; gives it back when dropped.
#[derive(Debug)]
pub struct Ticket {
    budget: Arc<Budget>,
    id: u64,
    peer: IpAddr,
    stream: bool,
}

impl Budget {
    /// Budgets of these limits.
    pub fn new(limits: Limits) -> Arc<Budget> {
        Arc::new(Budget { limits, state: Mutex::new(State::default()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request place for `conn`, cutting off the longest-waiting request past [`GRACE`] when
    /// all are taken.
    pub fn admit(self: &Arc<Self>, conn: &TcpStream) -> Result<Ticket, Refused> {
        let peer = conn.peer_addr().map(|a| canonical(a.ip())).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let handle = conn.try_clone().map_err(|_| Refused::Requests)?;
        let mut st = self.lock();
        if st.reading.len() >= self.limits.requests {
            let oldest = st.reading.iter().enumerate().min_by_key(|(_, r)| r.1).map(|(i, r)| (i, r.1));
            match oldest {
                Some((i, since)) if since.elapsed() >= GRACE => {
                    let (_, _, victim) = st.reading.swap_remove(i);
                    let _ = victim.shutdown(std::net::Shutdown::Both);
                }
                _ => return Err(Refused::Requests),
            }
        }
        st.next += 1;
        let id = st.next;
        st.reading.push((id, Instant::now(), handle));
        Ok(Ticket { budget: self.clone(), id, peer, stream: false })
    }
}

impl Ticket {
    /// The request was read and is a stream: moves from the request budget to the stream budget.
    pub fn to_stream(&mut self) -> Result<(), Refused> {
        let mut st = self.budget.lock();
        st.reading.retain(|r| r.0 != self.id);
        if self.stream {
            return Ok(());
        }
        if st.streams >= self.budget.limits.streams {
            return Err(Refused::Streams);
        }
        let counted = !self.peer.is_loopback();
        if counted && st.per_address.get(&self.peer).copied().unwrap_or(0) >= self.budget.limits.per_address {
            return Err(Refused::Address);
        }
        st.streams += 1;
        if counted {
            *st.per_address.entry(self.peer).or_default() += 1;
        }
        self.stream = true;
        Ok(())
    }

    /// The request was read (whatever comes next is not the client's slowness): it can no
    /// longer be cut off to make room.
    pub fn read(&self) {
        self.budget.lock().reading.retain(|r| r.0 != self.id);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut st = self.budget.lock();
        st.reading.retain(|r| r.0 != self.id);
        if self.stream {
            st.streams -= 1;
            if let Some(n) = st.per_address.get_mut(&self.peer) {
                *n -= 1;
                if *n == 0 {
                    st.per_address.remove(&self.peer);
                }
            }
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn conn(l: &TcpListener) -> (TcpStream, TcpStream) {
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    }

    /// Connections reading a request, and streams, now.
    fn counts(b: &Budget) -> (usize, usize) {
        let st = b.lock();
        (st.reading.len(), st.streams)
    }

    #[test]
    fn a_full_request_budget_cuts_off_the_oldest_slow_request_not_the_newcomer() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = Budget::new(Limits { requests: 2, streams: 2, per_address: 1 });
        let (_c1, s1) = conn(&l);
        let (_c2, s2) = conn(&l);
        let _t1 = b.admit(&s1).unwrap();
        let _t2 = b.admit(&s2).unwrap();
        let (_c3, s3) = conn(&l);
        assert_eq!(b.admit(&s3).unwrap_err(), Refused::Requests, "both are within their grace");
        std::thread::sleep(GRACE);
        let _t3 = b.admit(&s3).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut &s1, &mut buf).unwrap(), 0, "the oldest was shut down");
        assert_eq!(counts(&b), (2, 0));
    }

    #[test]
    fn streams_have_their_own_budget_and_places_come_back_when_dropped() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = Budget::new(Limits { requests: 1, streams: 1, per_address: 1 });
        let (_c1, s1) = conn(&l);
        let mut t1 = b.admit(&s1).unwrap();
        t1.to_stream().unwrap();
        let (_c2, s2) = conn(&l);
        let mut t2 = b.admit(&s2).expect("a request place is free while a stream runs");
        assert_eq!(t2.to_stream().unwrap_err(), Refused::Streams);
        drop(t1);
        t2.to_stream().unwrap();
        drop(t2);
        assert_eq!(counts(&b), (0, 0));
    }

    #[test]
    fn mapped_addresses_are_the_ipv4_address_they_carry() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(canonical(mapped).is_loopback());
        assert!(!mapped.is_loopback(), "std does not see through the mapping");
    }

    #[test]
    fn one_lan_address_gets_its_share_of_the_streams_and_loopback_is_exempt() {
        let b = Budget::new(Limits { requests: 4, streams: 4, per_address: 1 });
        let ticket =
            |peer: &str, id| Ticket { budget: b.clone(), id, peer: peer.parse().unwrap(), stream: false };
        let mut first = ticket("192.0.2.7", 1);
        first.to_stream().unwrap();
        assert_eq!(ticket("192.0.2.7", 2).to_stream().unwrap_err(), Refused::Address);
        ticket("192.0.2.8", 3).to_stream().unwrap();
        let (mut a, mut c) = (ticket("127.0.0.1", 4), ticket("127.0.0.1", 5));
        a.to_stream().unwrap();
        c.to_stream().unwrap();
        drop(first);
        ticket("192.0.2.7", 6).to_stream().unwrap();
    }
}
