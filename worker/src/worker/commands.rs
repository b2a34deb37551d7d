//! Control API commands (checkpoint, savepoint, stop), which the loop executes at a transaction boundary:
//! right after it committed what was open and before it begins the next transaction.

use std::time::Duration;

use sluice_api::control::WorkerPhase;

use super::txn_loop::{LoopError, LoopExit, TxnLoop};
use crate::control::Command;

impl TxnLoop<'_> {
    /// Executes a control command right after a commit. Returns Some when the loop must end.
    pub(super) fn handle(&mut self, cmd: Command) -> Result<Option<LoopExit>, LoopError> {
        match cmd {
            Command::Checkpoint { reply } => {
                let id = self.snapshots.checkpoint_now(self.tasks)?;
                let _ = reply.send(Ok(id));
            }
            Command::Savepoint { id, reply } => {
                self.snapshots.request_savepoint(id.clone());
                let _ = reply.send(Ok(id));
            }
            Command::Stop { savepoint, reply } => {
                let Some(id) = savepoint else {
                    self.accounting.publish(
                        self.tasks,
                        WorkerPhase::Stopped,
                        Duration::from_secs(1),
                    );
                    let _ = reply.send(Ok(None));
                    return Ok(Some(LoopExit::Stopped));
                };
                self.accounting
                    .publish(self.tasks, WorkerPhase::Stopping, Duration::from_secs(1));
                match self.snapshots.savepoint_and_wait(self.tasks, id) {
                    Ok(info) if info.error.is_none() => {
                        self.accounting.publish(
                            self.tasks,
                            WorkerPhase::Stopped,
                            Duration::from_secs(1),
                        );
                        let _ = reply.send(Ok(Some(info)));
                        return Ok(Some(LoopExit::Stopped));
                    }
                    // The savepoint failed: keep running the current job; the caller sees why.
                    Ok(info) => {
                        let _ = reply.send(Err(info.error.unwrap_or_default()));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
        Ok(None)
    }
}
