//! `cookim export` and `cookim import`: a whole store to a dump file and back (see
//! `store::dump`), on the store the server would use with the same flags.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter};
use std::path::Path;

use store::dump;

use crate::cli::{Command, Settings};
use crate::{Error, open_store};

/// Runs a tool to completion.
pub(crate) fn run(command: Command, settings: &Settings) -> Result<(), Error> {
    let runtime = runtime::Runtime::new(1)?;
    runtime.block_on(async {
        let store = open_store(settings).await?;
        match command {
            Command::Export(export) => {
                let exported = match &export.out {
                    Some(path) => export_to_file(&*store, path).await?,
                    None => {
                        let mut out = BufWriter::new(std::io::stdout().lock());
                        dump::export(&*store, &mut out).await?
                    }
                };
                tracing::info!(
                    files = exported.files,
                    users = exported.users,
                    sessions = exported.sessions,
                    messages = exported.messages,
                    notifications = exported.notifications,
                    "export done"
                );
            }
            Command::Import(import) => {
                let input: Box<dyn BufRead> = match &import.input {
                    Some(path) => Box::new(BufReader::new(File::open(path).map_err(|e| {
                        Error::Unsupported(format!("cannot read {}: {e}", path.display()))
                    })?)),
                    None => Box::new(BufReader::new(std::io::stdin().lock())),
                };
                let imported = dump::import(&*store, input).await?;
                store.flush().await?;
                tracing::info!(
                    written = imported.written,
                    skipped = imported.skipped,
                    "import done"
                );
            }
        }
        Ok(())
    })
}

/// Writes the dump next to `path` and renames it into place once complete and synced, so a
/// failed export never leaves a partial dump under the name asked for.
async fn export_to_file(store: &dyn store::Store, path: &Path) -> Result<dump::Exported, Error> {
    let partial = path.with_extension("partial");
    let file = File::create(&partial)
        .map_err(|e| Error::Unsupported(format!("cannot write {}: {e}", partial.display())))?;
    let mut out = BufWriter::new(file);
    let exported = dump::export(store, &mut out).await?;
    let file = out.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    Ok(exported)
}
