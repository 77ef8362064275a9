//! Named call recordings, shared by the ng protocol and the REST API: where files go
//! (`[recording] dir`), which recording runs on which session, and what became of each.
//!
//! # Contract
//!
//! - A recording has a **name** (`[A-Za-z0-9._-]`, at most 128 bytes, not starting with a
//!   dot: it is a file name, so it can never escape the directory) and a file
//!   `<dir>/<name>.wav`. The directory is created when the first recording starts.
//! - Starting checks the name, the directory and the file on the caller's thread, then asks
//!   the runtime ([`Runtime::start_recording`]); every failure is a typed
//!   [`RecordingsError`] and leaves no file behind.
//! - A recording ends when it is stopped, when its session is removed (call deleted, channel
//!   moved to another session), or at its maximum duration. The runtime's recorder then
//!   reports it; a thread here marks it done and tells subscribers ([`RecordingEvent`]).
//! - Recordings are remembered until deleted (the file with them). Blocking: methods wait for
//!   a media worker; call them off the async reactor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak, mpsc};
use std::time::Duration;

use tandem_core::recording::{Channels, FinishReason, RecordingReport, RecordingSpec};
use tandem_core::runtime::{Runtime, RuntimeError};
use tandem_core::session::SessionId;

/// Longest recording name.
pub const NAME_MAX: usize = 128;

/// Where a recording stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    /// Audio is being written.
    Recording,
    /// Paused: nothing is written until resumed.
    Paused,
    /// Stopped (or its session ended): the recorder is completing the file.
    Stopping,
    /// Finished; the file is complete.
    Done,
    /// Finished with a write error; the file holds what was written before it.
    Failed,
}

impl RecordingState {
    /// Recording or paused: it can be stopped or paused.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Recording | Self::Paused)
    }

    /// Not finished yet: its file is incomplete.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Recording | Self::Paused | Self::Stopping)
    }

    /// ARI's word for it (`recording`, `paused`, `done`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

/// One recording as the control plane knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Its name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// The session recorded.
    pub session: SessionId,
    /// What was recorded: an API channel id or an ng call-id.
    pub target: String,
    /// Where it stands.
    pub state: RecordingState,
    /// The finished recording's report (duration, drops), once done.
    pub report: Option<RecordingReport>,
}

/// What happened to a recording, for event streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingEvent {
    /// It started.
    Started(Recording),
    /// It finished (its `report` is set).
    Finished(Recording),
}

/// What to do when a recording of the same name exists (ARI's `ifExists`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfExists {
    /// Refuse (the default).
    #[default]
    Fail,
    /// Replace a finished recording (its file is overwritten).
    Overwrite,
}

/// Why a recording request failed. Classified by what the caller answers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingsError {
    /// The name is empty, too long, or holds characters other than `A-Z a-z 0-9 . _ -`.
    #[error(
        "invalid recording name {0:?}: use 1 to 128 of A-Z a-z 0-9 . _ - (not starting with .)"
    )]
    InvalidName(String),
    /// A recording of this name exists (and may not be replaced).
    #[error("a recording named {0:?} exists")]
    Exists(String),
    /// No recording of this name.
    #[error("no recording named {0:?}")]
    Unknown(String),
    /// The recording is still running (delete it after stopping it).
    #[error("recording {0:?} is still running")]
    Running(String),
    /// The recording has finished already.
    #[error("recording {0:?} has finished")]
    Finished(String),
    /// The session is being recorded already.
    #[error("the session is being recorded already (recording {0:?})")]
    SessionRecorded(String),
    /// The directory cannot be created or written.
    #[error("recording directory {}: {reason}", dir.display())]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// The runtime refused (file not creatable, unknown session, worker overloaded...).
    #[error("media runtime: {0}")]
    Runtime(#[from] RuntimeError),
}

/// Checks a recording name. See the module docs.
///
/// # Errors
///
/// [`RecordingsError::InvalidName`].
pub fn check_name(name: &str) -> Result<(), RecordingsError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RecordingsError::InvalidName(name.to_owned()))
    }
}

/// A name made from arbitrary text (an ng call-id): unsafe bytes become `_`, cut to fit.
pub fn name_from(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(NAME_MAX - 24)
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, 'r');
    }
    name
}

type Listeners = Mutex<Vec<mpsc::Sender<RecordingEvent>>>;

/// The recordings of one `tandem run`. See the module docs.
#[derive(Debug)]
pub struct Recordings {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    table: Mutex<HashMap<String, Recording>>,
    listeners: Listeners,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recordings {
    /// Recordings over `runtime`, into `dir`. Starts the thread that marks recordings done
    /// (it ends when this is dropped).
    pub fn new(runtime: Arc<Runtime>, dir: PathBuf) -> Arc<Self> {
        let reports = runtime.subscribe_recordings();
        let this = Arc::new(Self {
            runtime,
            dir,
            table: Mutex::new(HashMap::new()),
            listeners: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&this);
        let spawned = std::thread::Builder::new()
            .name("tandem-recordings".into())
            .spawn(move || watch(&weak, &reports));
        if let Err(e) = spawned {
            tracing::error!("the recordings watcher did not start: {e}");
        }
        this
    }

    /// The directory files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new subscription to started and finished recordings.
    pub fn subscribe(&self) -> mpsc::Receiver<RecordingEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.listeners).push(tx);
        rx
    }

    fn publish(&self, event: &RecordingEvent) {
        lock(&self.listeners).retain(|l| l.send(event.clone()).is_ok());
    }

    /// Starts recording `session` as `name` (see the module docs).
    ///
    /// # Errors
    ///
    /// [`RecordingsError`]: bad name, name taken, session already recorded, directory or
    /// file not writable, runtime refusal.
    pub fn start(
        &self,
        name: &str,
        target: &str,
        session: SessionId,
        channels: Channels,
        max_duration_ms: Option<u64>,
        if_exists: IfExists,
    ) -> Result<Recording, RecordingsError> {
        check_name(name)?;
        {
            let table = lock(&self.table);
            if let Some(old) = table.get(name) {
                if if_exists == IfExists::Fail || old.state.is_open() {
                    return Err(RecordingsError::Exists(name.to_owned()));
                }
            }
            if let Some(r) = table
                .values()
                .find(|r| r.session == session && r.state.is_live())
            {
                return Err(RecordingsError::SessionRecorded(r.name.clone()));
            }
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| RecordingsError::Directory {
            dir: self.dir.clone(),
            reason: e.to_string(),
        })?;
        let path = self.dir.join(format!("{name}.wav"));
        let mut spec = RecordingSpec::new(&path).with_channels(channels);
        spec.max_duration_ms = max_duration_ms;
        let handle = self.runtime.start_recording(session, &spec)?;
        let recording = Recording {
            name: name.to_owned(),
            path: handle.path,
            session,
            target: target.to_owned(),
            state: RecordingState::Recording,
            report: None,
        };
        lock(&self.table).insert(name.to_owned(), recording.clone());
        self.publish(&RecordingEvent::Started(recording.clone()));
        Ok(recording)
    }

    fn running(&self, name: &str) -> Result<Recording, RecordingsError> {
        let recording = self
            .get(name)
            .ok_or_else(|| RecordingsError::Unknown(name.to_owned()))?;
        if recording.state.is_live() {
            Ok(recording)
        } else {
            Err(RecordingsError::Finished(name.to_owned()))
        }
    }

    /// Stops a running recording; it is reported done once its file is complete.
    ///
    /// # Errors
    ///
    /// [`RecordingsError::Unknown`], [`RecordingsError::Finished`],
    /// [`RecordingsError::Runtime`].
    pub fn stop(&self, name: &str) -> Result<Recording, RecordingsError> {
        let recording = self.running(name)?;
        match self.runtime.stop_recording(recording.session) {
            // The session went first: the recorder is finishing it already.
            Ok(()) | Err(RuntimeError::UnknownSession(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let mut table = lock(&self.table);
        let entry = table
            .get_mut(name)
            .ok_or_else(|| RecordingsError::Unknown(name.to_owned()))?;
        if entry.state.is_live() {
            entry.state = RecordingState::Stopping;
        }
        Ok(entry.clone())
    }

    /// Pauses or resumes a running recording.
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop).
    pub fn pause(&self, name: &str, paused: bool) -> Result<Recording, RecordingsError> {
        let recording = self.running(name)?;
        self.runtime.pause_recording(recording.session, paused)?;
        let mut table = lock(&self.table);
        let entry = table
            .get_mut(name)
            .ok_or_else(|| RecordingsError::Unknown(name.to_owned()))?;
        if entry.state.is_live() {
            entry.state = if paused {
                RecordingState::Paused
            } else {
                RecordingState::Recording
            };
        }
        Ok(entry.clone())
    }

    /// The running recording of `session`, if any.
    pub fn of_session(&self, session: SessionId) -> Option<Recording> {
        lock(&self.table)
            .values()
            .find(|r| r.session == session && r.state.is_live())
            .cloned()
    }

    /// A recording by name.
    pub fn get(&self, name: &str) -> Option<Recording> {
        lock(&self.table).get(name).cloned()
    }

    /// Every recording, by name.
    pub fn list(&self) -> Vec<Recording> {
        let mut all: Vec<Recording> = lock(&self.table).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Forgets a finished recording and deletes its file.
    ///
    /// # Errors
    ///
    /// [`RecordingsError::Unknown`], [`RecordingsError::Running`],
    /// [`RecordingsError::Directory`] when the file cannot be removed.
    pub fn delete(&self, name: &str) -> Result<(), RecordingsError> {
        let mut table = lock(&self.table);
        let recording = table
            .get(name)
            .ok_or_else(|| RecordingsError::Unknown(name.to_owned()))?;
        if recording.state.is_open() {
            return Err(RecordingsError::Running(name.to_owned()));
        }
        match std::fs::remove_file(&recording.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(RecordingsError::Directory {
                    dir: self.dir.clone(),
                    reason: e.to_string(),
                });
            }
        }
        table.remove(name);
        Ok(())
    }

    /// The runtime finished a recording.
    fn finished(&self, report: RecordingReport) {
        let recording = {
            let mut table = lock(&self.table);
            let Some(entry) = table.values_mut().find(|r| {
                r.path == report.path && r.session == report.session && r.state.is_open()
            }) else {
                return;
            };
            entry.state = if report.reason == FinishReason::WriteFailed {
                RecordingState::Failed
            } else {
                RecordingState::Done
            };
            entry.report = Some(report);
            entry.clone()
        };
        self.publish(&RecordingEvent::Finished(recording));
    }
}

/// Marks recordings done as the runtime reports them, until the table is gone.
fn watch(recordings: &Weak<Recordings>, reports: &mpsc::Receiver<RecordingReport>) {
    loop {
        match reports.recv_timeout(Duration::from_millis(200)) {
            Ok(report) => {
                let Some(recordings) = recordings.upgrade() else {
                    return;
                };
                if let Some(error) = &report.error {
                    tracing::warn!("recording {}: {error}", report.path.display());
                }
                recordings.finished(report);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if recordings.strong_count() == 0 {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_names_that_cannot_escape_the_directory() {
        for good in ["call-1", "a.b_c", "X9"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "sp ace", &"x".repeat(129)] {
            assert!(
                matches!(check_name(bad), Err(RecordingsError::InvalidName(_))),
                "{bad}"
            );
        }
        assert_eq!(name_from("abc@host/../x"), "abc_host_.._x");
        assert!(check_name(&name_from("abc@host/../x")).is_ok());
        assert_eq!(name_from(".x"), "r.x");
    }
}
