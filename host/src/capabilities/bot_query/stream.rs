//! [`BotStream`]: the `bot-stream` resource a guest holds — the receiving end of one call's
//! messages, pollable beside other streams and timers, and the owner of the call's task,
//! so dropping the stream (or the whole store, when the response ends) cancels the call.

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use crate::guest::bindings::bot_query::{BotMessage, QueryError};

/// What a call's task sends: messages, then exactly one end.
#[derive(Debug)]
pub enum Item {
    /// A message of the answer.
    Message(BotMessage),
    /// The answer is complete.
    End,
    /// The call failed.
    Failed(QueryError),
}

/// One call, as the guest sees it.
pub struct BotStream {
    rx: mpsc::Receiver<Item>,
    /// An item `ready` took from the channel, for the next `next`/`try-next`.
    peeked: Option<Item>,
    /// How the stream ended, returned again by every later call.
    ended: Option<Result<(), QueryError>>,
    task: tokio::task::JoinHandle<()>,
}

/// What `next` returns.
pub type Next = Result<Option<BotMessage>, QueryError>;

impl BotStream {
    /// A stream reading `rx`, which `task` feeds; the task is aborted with the stream.
    pub fn new(rx: mpsc::Receiver<Item>, task: tokio::task::JoinHandle<()>) -> Self {
        Self { rx, peeked: None, ended: None, task }
    }

    /// The next message, waiting for it.
    pub async fn next(&mut self) -> Next {
        if let Some(ended) = &self.ended {
            return ended.clone().map(|()| None);
        }
        let item = match self.peeked.take() {
            Some(item) => item,
            None => self.rx.recv().await.unwrap_or_else(lost),
        };
        self.settle(item)
    }

    /// The next message if one has arrived.
    pub fn try_next(&mut self) -> Option<Next> {
        if let Some(ended) = &self.ended {
            return Some(ended.clone().map(|()| None));
        }
        let item = match self.peeked.take() {
            Some(item) => item,
            None => match self.rx.try_recv() {
                Ok(item) => item,
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => lost(),
            },
        };
        Some(self.settle(item))
    }

    fn settle(&mut self, item: Item) -> Next {
        match item {
            Item::Message(message) => Ok(Some(message)),
            Item::End => {
                self.ended = Some(Ok(()));
                Ok(None)
            }
            Item::Failed(error) => {
                self.ended = Some(Err(error.clone()));
                Err(error)
            }
        }
    }
}

/// The task ended without saying how: only if it panicked.
fn lost() -> Item {
    Item::Failed(QueryError::Failed("the call ended unexpectedly".into()))
}

impl Drop for BotStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for BotStream {
    async fn ready(&mut self) {
        if self.ended.is_none() && self.peeked.is_none() {
            self.peeked = Some(self.rx.recv().await.unwrap_or_else(lost));
        }
    }
}
