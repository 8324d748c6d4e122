//! Opening a log file: gzip is detected by its magic bytes, a UTF-8 byte-order mark is
//! dropped, and UTF-16 text is refused at once (the formats are UTF-8; Excel's "Unicode text"
//! export is UTF-16). Files are read through a buffer, never whole.

use crate::error::ImportError;
use flate2::read::MultiGzDecoder;
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

/// Bytes read from the file at a time: small enough that the kernel's copy is still in the
/// core's L2 cache when the formats parse it (64 KiB took ~2 % less CPU than 256 KiB on the
/// AWS and BulkExport benchmarks, docs/performance.md).
const BUFFER: usize = 64 * 1024;

/// An opened log: its name for messages and a buffered reader of its (decompressed) text.
pub struct Input {
    pub name: String,
    pub reader: Box<dyn BufRead>,
}

pub fn open(path: &Path, format: &'static str) -> Result<Input, ImportError> {
    let name = path.display().to_string();
    let io = |source| ImportError::Io {
        file: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut raw = BufReader::with_capacity(BUFFER, file);
    let gz = raw.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn BufRead> = if gz {
        Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(raw)))
    } else {
        Box::new(raw)
    };
    let head = reader.fill_buf().map_err(io)?;
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(ImportError::WrongFormat {
            file: name,
            line: 1,
            format,
            message: "the text is UTF-16 encoded; save it as UTF-8".into(),
        });
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(Input { name, reader })
}

/// A reader that counts the newlines it has handed out, so a streaming JSON parser's position
/// can be turned into a line number, and whether anything but white space came since a mark.
pub struct Counting<R> {
    inner: R,
    pub state: Rc<Position>,
}

#[derive(Default)]
pub struct Position {
    pub lines: Cell<u64>,
    pub content: Cell<bool>,
}

impl<R: Read> Counting<R> {
    pub fn new(inner: R) -> Self {
        Self::starting_at(inner, 1)
    }

    /// A reader whose first byte is on `line`.
    pub fn starting_at(inner: R, line: u64) -> Self {
        let state = Rc::new(Position::default());
        state.lines.set(line);
        Counting { inner, state }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut lines = self.state.lines.get();
        let mut content = self.state.content.get();
        for &b in &buf[..n] {
            if b == b'\n' {
                lines += 1;
            } else if !b.is_ascii_whitespace() {
                content = true;
            }
        }
        self.state.lines.set(lines);
        self.state.content.set(content);
        Ok(n)
    }
}
