//! What is to be published: the latest value of each topic, never a backlog.
//!
//! Owns the bound on the bridge's memory while the broker is away or slow: one slot per topic (a
//! fixed set: the discovery configs, the availability and the state topics), each holding its
//! latest payload and whether the broker has it. A value replaced before it was sent is
//! counted ([`Outbox::superseded`]), never queued; a reconnect marks every slot to be sent again
//! ([`Outbox::resend_all`]), in the order the slots were made (the discovery configs first).
//! Sending is the caller's ([`Outbox::flush`] hands each unsent slot to a function that may refuse
//! it when the client's own bounded queue is full: the slot stays unsent and the flush stops).

/// One topic's latest value.
#[derive(Debug)]
struct Slot {
    topic: String,
    payload: String,
    /// Not yet handed to the client since it last changed (or since the last reconnect).
    unsent: bool,
    /// Level messages go at most once: a lost one is stale at once.
    retain: bool,
}

/// The latest value of each topic.
#[derive(Debug, Default)]
pub struct Outbox {
    slots: Vec<Slot>,
    superseded: u64,
    sent: u64,
}

impl Outbox {
    /// Sets `topic`'s value (retained unless `retain` is false); a value equal to the last one
    /// changes nothing.
    pub fn set(&mut self, topic: &str, payload: &str, retain: bool) {
        match self.slots.iter_mut().find(|s| s.topic == topic) {
            Some(s) if s.payload == payload => {}
            Some(s) => {
                if s.unsent {
                    self.superseded += 1;
                }
                (s.payload, s.unsent, s.retain) = (payload.to_string(), true, retain);
            }
            None => {
                self.slots.push(Slot { topic: topic.into(), payload: payload.into(), unsent: true, retain })
            }
        }
    }

    /// Marks every retained slot to be sent again (a new session: the broker may have lost them).
    pub fn resend_all(&mut self) {
        self.slots.iter_mut().filter(|s| s.retain).for_each(|s| s.unsent = true);
    }

    /// Hands each unsent slot, in order, to `send(topic, payload, retain)`; stops at the first it
    /// refuses (false), leaving that one and the rest unsent. Returns how many were sent.
    pub fn flush(&mut self, send: &mut dyn FnMut(&str, &str, bool) -> bool) -> usize {
        let mut n = 0;
        for s in self.slots.iter_mut().filter(|s| s.unsent) {
            if !send(&s.topic, &s.payload, s.retain) {
                break;
            }
            s.unsent = false;
            n += 1;
        }
        self.sent += n as u64;
        n
    }

    /// Values replaced before they were sent.
    pub fn superseded(&self) -> u64 {
        self.superseded
    }

    /// Values handed to the client.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Slots not yet sent.
    pub fn pending(&self) -> usize {
        self.slots.iter().filter(|s| s.unsent).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(o: &mut Outbox, room: usize) -> Vec<String> {
        let mut got = Vec::new();
        o.flush(&mut |t, p, _| {
            if got.len() == room {
                return false;
            }
            got.push(format!("{t}={p}"));
            true
        });
        got
    }

    #[test]
    fn only_the_latest_value_of_a_topic_waits_and_replaced_ones_are_counted() {
        let mut o = Outbox::default();
        for i in 0..10_000 {
            o.set("vinyl/level", &i.to_string(), false);
        }
        o.set("vinyl/state", "playing", true);
        assert_eq!(o.pending(), 2);
        assert_eq!(o.superseded(), 9_999);
        assert_eq!(sent(&mut o, 10), ["vinyl/level=9999", "vinyl/state=playing"]);
        o.set("vinyl/state", "playing", true);
        assert!(sent(&mut o, 10).is_empty(), "an unchanged value is not sent again");
    }

    #[test]
    fn a_full_client_keeps_the_rest_and_a_reconnect_sends_the_retained_again_in_order() {
        let mut o = Outbox::default();
        for t in ["d/1", "d/2", "v/state"] {
            o.set(t, "x", true);
        }
        o.set("v/level", "-20", false);
        assert_eq!(sent(&mut o, 1), ["d/1=x"]);
        assert_eq!(sent(&mut o, 10), ["d/2=x", "v/state=x", "v/level=-20"]);
        o.resend_all();
        assert_eq!(sent(&mut o, 10), ["d/1=x", "d/2=x", "v/state=x"], "levels are not resent");
        assert_eq!(o.sent(), 7);
    }
}
