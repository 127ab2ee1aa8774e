//! Standard output: the one place the producer writes results. JSON is one
//! compact document and a newline, whatever the command; text is written as
//! given. A reader that closes the pipe early (`| head -1`) ends the command
//! quietly (see [`is_closed_pipe`]) instead of a panic.

use std::io::Write as _;

use serde::Serialize;

/// Writes `value` as one compact JSON document and a newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Writes `text` as it is.
pub fn text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Whether `error` is stdout's reader having gone away: nothing is left to
/// tell it, so the command ends with exit code 0 and no message, as `cat`
/// and `grep` effectively do under a pipe.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = match cause.downcast_ref::<serde_json::Error>() {
            Some(json) => json.io_error_kind(),
            None => cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
