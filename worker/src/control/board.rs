//! The meeting point of the processing loop and the control API: the loop publishes a status snapshot and
//! drains commands at transaction boundaries; HTTP handlers read the snapshot and enqueue commands.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use sluice_api::control::{SnapshotInfo, WorkerPhase, WorkerStatus};

/// A request the loop executes between transactions.
#[derive(Debug)]
pub enum Command {
    /// Take a checkpoint now; answered with its id.
    Checkpoint {
        reply: Sender<Result<String, String>>,
    },
    /// Take a savepoint with this id; answered with the id once started.
    Savepoint {
        id: String,
        reply: Sender<Result<String, String>>,
    },
    /// Commit, optionally savepoint, and stop; answered once done (with the savepoint's outcome).
    Stop {
        savepoint: Option<String>,
        reply: Sender<Result<Option<SnapshotInfo>, String>>,
    },
}

/// Shared between the loop (writer of status, reader of commands) and the HTTP handlers.
pub struct StatusBoard {
    status: Mutex<WorkerStatus>,
    commands: Mutex<Sender<Command>>,
    inbox: Mutex<Receiver<Command>>,
}

impl StatusBoard {
    pub fn new(initial: WorkerStatus) -> Arc<StatusBoard> {
        let (tx, rx) = mpsc::channel();
        Arc::new(StatusBoard {
            status: Mutex::new(initial),
            commands: Mutex::new(tx),
            inbox: Mutex::new(rx),
        })
    }

    pub fn status(&self) -> Option<WorkerStatus> {
        self.status.lock().ok().map(|s| s.clone())
    }

    pub fn phase(&self) -> Option<WorkerPhase> {
        self.status.lock().ok().map(|s| s.phase)
    }

    /// Updates the published status in place.
    pub fn update(&self, f: impl FnOnce(&mut WorkerStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Enqueues a command; false when the loop is gone.
    pub fn send(&self, cmd: Command) -> bool {
        self.commands
            .lock()
            .map(|tx| tx.send(cmd).is_ok())
            .unwrap_or(false)
    }

    /// The next pending command, if any (called by the loop; never blocks).
    pub fn next_command(&self) -> Option<Command> {
        let rx = self.inbox.lock().ok()?;
        rx.try_recv().ok()
    }
}
