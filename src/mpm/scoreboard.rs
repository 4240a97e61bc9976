//! The scoreboard: one slot per child process (and per worker, once the threaded MPMs fork),
//! in memory shared with the children, holding Apache's worker states.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Apache's worker states, in its numbering (the order matters: "starting" counts as idle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u64)]
pub enum State {
    Dead = 0,
    Starting = 1,
    Ready = 2,
    Reading = 3,
    Writing = 4,
    KeepAlive = 5,
    Logging = 6,
    Dns = 7,
    Closing = 8,
    Graceful = 9,
    IdleKill = 10,
}

impl State {
    fn from_raw(raw: u64) -> State {
        match raw {
            1 => State::Starting,
            2 => State::Ready,
            3 => State::Reading,
            4 => State::Writing,
            5 => State::KeepAlive,
            6 => State::Logging,
            7 => State::Dns,
            8 => State::Closing,
            9 => State::Graceful,
            10 => State::IdleKill,
            _ => State::Dead,
        }
    }

    /// The character mod_status shows for the state.
    pub fn symbol(self) -> char {
        b".S_RWKLDCGI"[self as usize] as char
    }
}

/// Words per slot: pid, state, connections served.
const SLOT_WORDS: usize = 3;

pub struct Scoreboard {
    words: &'static [AtomicU64],
    slots: usize,
}

impl Scoreboard {
    pub fn new(slots: usize) -> io::Result<Scoreboard> {
        let words = crate::sys::shared::shared_atomics(slots * SLOT_WORDS)?;
        Ok(Scoreboard { words, slots })
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    fn word(&self, slot: usize, index: usize) -> &AtomicU64 {
        &self.words[slot * SLOT_WORDS + index]
    }

    pub fn state(&self, slot: usize) -> State {
        State::from_raw(self.word(slot, 1).load(Ordering::Acquire))
    }

    pub fn set_state(&self, slot: usize, state: State) {
        self.word(slot, 1).store(state as u64, Ordering::Release);
    }

    pub fn pid(&self, slot: usize) -> i32 {
        self.word(slot, 0).load(Ordering::Acquire) as i32
    }

    /// Claims a slot for a child about to be forked (its pid is filled in by `set_pid`).
    pub fn occupy(&self, slot: usize) {
        self.word(slot, 0).store(0, Ordering::Release);
        self.word(slot, 2).store(0, Ordering::Release);
        self.set_state(slot, State::Starting);
    }

    pub fn set_pid(&self, slot: usize, pid: i32) {
        self.word(slot, 0).store(pid as u64, Ordering::Release);
    }

    /// Frees the slot of a child that has ended.
    pub fn vacate(&self, slot: usize) {
        self.set_state(slot, State::Dead);
        self.word(slot, 0).store(0, Ordering::Release);
    }

    pub fn count_connection(&self, slot: usize) {
        self.word(slot, 2).fetch_add(1, Ordering::AcqRel);
    }

    /// The status line of every slot, as mod_status's Scoreboard shows it.
    pub fn symbols(&self) -> String {
        (0..self.slots).map(|s| self.state(s).symbol()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_start_dead_and_keep_their_own_state() {
        let board = Scoreboard::new(4).unwrap();
        assert_eq!(board.symbols(), "....");
        board.occupy(1);
        board.set_pid(1, 42);
        board.occupy(2);
        board.set_state(2, State::Ready);
        assert_eq!(board.symbols(), ".S_.");
        assert_eq!(board.pid(1), 42);
        board.vacate(1);
        assert_eq!(board.symbols(), ".._.");
        assert_eq!(board.pid(1), 0);
    }
}
