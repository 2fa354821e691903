//! The text-protocol oracle's machinery, shared by the scripted oracle (`tests/text_oracle.rs`)
//! and the random-stream differential test (`tests/text_differential.rs`): steps of raw command
//! bytes (with `{cas:KEY}` placeholders filled with the server's own CAS for a key), a [`Side`]
//! per server that runs a step and reads its whole reply, and the normalisation that makes two
//! servers' replies comparable:
//! - CAS values are mapped one to one, per server, in order of appearance (`VALUE … <cas>`, meta
//!   `c<cas>`, `me`'s `cas=`);
//! - `me`'s `exp=`, `la=`, `cls=` and `size=` are masked;
//! - a counter's space padding is trimmed (see [`crate::trim_padding`]).

use std::collections::HashMap;

use crate::text::TextConn;
use crate::{Kind, Server, trim_padding};

/// A piece of a step's bytes.
#[derive(Clone, Debug)]
pub enum Part {
    /// Sent as they are.
    Bytes(Vec<u8>),
    /// The CAS this server holds for the key (0 when it holds none).
    CasOf(String),
}

/// How a step's reply ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A sentinel `mg` follows the step; read up to its answer; the connection stays open.
    Sync,
    /// The server closes the connection: read until it does.
    Closes,
}

/// How two servers' replies to a step are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Byte for byte, once normalised.
    Exact,
    /// `stats`: STAT lines then END, values not compared.
    StatShape,
}

/// One step: bytes sent together, and how their reply is read and compared.
pub struct Step {
    pub name: String,
    pub parts: Vec<Part>,
    pub ending: Ending,
    pub compare: Compare,
}

/// Steps run in order on one connection per server.
#[derive(Default)]
pub struct Script {
    pub steps: Vec<Step>,
}

/// Splits a template into parts: `{cas:KEY}` becomes the server's CAS for KEY.
pub fn parse_template(text: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{cas:") {
        parts.push(Part::Bytes(rest.as_bytes()[..start].to_vec()));
        let end = rest[start..].find('}').expect("closing brace") + start;
        parts.push(Part::CasOf(rest[start + 5..end].to_string()));
        rest = &rest[end + 1..];
    }
    parts.push(Part::Bytes(rest.as_bytes().to_vec()));
    parts
}

impl Script {
    pub fn step(&mut self, name: &str, text: &str) {
        self.push(name, parse_template(text), Ending::Sync, Compare::Exact);
    }
    pub fn bytes(&mut self, name: &str, bytes: Vec<u8>) {
        self.push(name, vec![Part::Bytes(bytes)], Ending::Sync, Compare::Exact);
    }
    pub fn closing(&mut self, name: &str, text: &str) {
        self.push(name, parse_template(text), Ending::Closes, Compare::Exact);
    }
    pub fn stats(&mut self, name: &str, text: &str) {
        self.push(name, parse_template(text), Ending::Sync, Compare::StatShape);
    }
    pub fn push(&mut self, name: &str, parts: Vec<Part>, ending: Ending, compare: Compare) {
        self.steps.push(Step {
            name: name.to_string(),
            parts,
            ending,
            compare,
        });
    }
    /// Commands sent, counted as command lines (data blocks excluded; approximate for binary data).
    pub fn command_count(&self) -> usize {
        self.steps
            .iter()
            .map(|s| {
                let text: Vec<u8> = s
                    .parts
                    .iter()
                    .flat_map(|p| match p {
                        Part::Bytes(b) => b.clone(),
                        Part::CasOf(_) => b"1".to_vec(),
                    })
                    .collect();
                let lines = text.split(|&b| b == b'\n').filter(|l| {
                    let l = l.strip_suffix(b"\r").unwrap_or(l);
                    let word = l.split(|&b| b == b' ').next().unwrap_or(b"");
                    COMMANDS.contains(&word)
                });
                lines.count() + usize::from(s.ending == Ending::Sync)
            })
            .sum()
    }
}

/// The command words `Script::command_count` counts.
pub const COMMANDS: &[&[u8]] = &[
    b"get",
    b"gets",
    b"gat",
    b"gats",
    b"set",
    b"add",
    b"replace",
    b"append",
    b"prepend",
    b"cas",
    b"delete",
    b"incr",
    b"decr",
    b"touch",
    b"flush_all",
    b"version",
    b"verbosity",
    b"stats",
    b"quit",
    b"mg",
    b"ms",
    b"md",
    b"ma",
    b"mn",
    b"me",
];

/// A server under test: its port, its connection, and its CAS normalisation table.
pub struct Side {
    pub kind: Kind,
    pub port: u16,
    pub conn: TextConn,
    pub cas_map: HashMap<u64, usize>,
}

impl Side {
    pub fn new(server: &Server) -> Side {
        Side {
            kind: server.kind,
            port: server.port,
            conn: TextConn::connect(server.port),
            cas_map: HashMap::new(),
        }
    }

    /// The CAS the server holds for `key`, read with `me` on a side connection.
    pub fn cas_of(&self, key: &str) -> u64 {
        let mut side = TextConn::connect(self.port);
        let reply = side.call(format!("me {key}\r\n").as_bytes());
        let text = String::from_utf8_lossy(&reply);
        text.split_whitespace()
            .find_map(|t| t.strip_prefix("cas="))
            .map(|c| c.parse().expect("numeric cas"))
            .unwrap_or(0)
    }

    pub fn run(&mut self, index: usize, step: &Step) -> Vec<u8> {
        let mut bytes = Vec::new();
        for part in &step.parts {
            match part {
                Part::Bytes(b) => bytes.extend_from_slice(b),
                Part::CasOf(key) => bytes.extend(self.cas_of(key).to_string().bytes()),
            }
        }
        match step.ending {
            Ending::Sync => {
                let sentinel = format!("mg sync k O{index}\r\n");
                let answer = format!("EN ksync O{index}\r\n");
                bytes.extend_from_slice(sentinel.as_bytes());
                self.conn.send(&bytes);
                let (mut reply, closed) = self.conn.read_until_suffix(answer.as_bytes());
                assert!(
                    !closed,
                    "{}: step {:?} closed the connection; got {:?}",
                    self.kind.name(),
                    step.name,
                    String::from_utf8_lossy(&reply)
                );
                reply.truncate(reply.len() - answer.len());
                reply
            }
            Ending::Closes => {
                self.conn.send(&bytes);
                let reply = self.conn.read_to_close();
                self.conn = TextConn::connect(self.port);
                reply
            }
        }
    }

    /// A CAS as its order of first appearance on this server (`#0`, `#1`, …).
    pub fn map_cas(&mut self, cas: &str) -> String {
        match cas.parse::<u64>() {
            Ok(v) => {
                let next = self.cas_map.len();
                format!("#{}", self.cas_map.entry(v).or_insert(next))
            }
            Err(_) => cas.to_string(),
        }
    }

    /// Replaces CAS values with their order of appearance, masks `me`'s time and slab fields;
    /// data blocks are copied untouched.
    pub fn normalise(&mut self, reply: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = reply;
        while !rest.is_empty() {
            let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") else {
                out.extend_from_slice(rest);
                break;
            };
            let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
            rest = &rest[nl + 2..];
            let words: Vec<&str> = line.split(' ').collect();
            let mut data_len = None;
            let new_line = match words[0] {
                "VALUE" if words.len() >= 4 => {
                    data_len = words[3].parse::<usize>().ok();
                    let mut w: Vec<String> = words.iter().map(|s| s.to_string()).collect();
                    if let Some(data) = data_len.and_then(|len| rest.get(..len)) {
                        w[3] = trim_padding(data).len().to_string();
                    }
                    if w.len() == 5 {
                        w[4] = self.map_cas(&w[4]);
                    }
                    w.join(" ")
                }
                "VA" | "HD" | "EN" | "NS" | "EX" | "NF" => {
                    if words[0] == "VA" {
                        data_len = words.get(1).and_then(|l| l.parse::<usize>().ok());
                    }
                    let va_len = data_len
                        .and_then(|len| rest.get(..len))
                        .map(|data| trim_padding(data).len().to_string());
                    let w: Vec<String> = words
                        .iter()
                        .enumerate()
                        .map(|(i, t)| match t.strip_prefix('c') {
                            _ if i == 1 && va_len.is_some() => va_len.clone().unwrap_or_default(),
                            Some(c)
                                if i > 0
                                    && c.bytes().all(|b| b.is_ascii_digit())
                                    && !c.is_empty() =>
                            {
                                format!("c{}", self.map_cas(c))
                            }
                            _ => t.to_string(),
                        })
                        .collect();
                    w.join(" ")
                }
                "ME" => {
                    let w: Vec<String> = words
                        .iter()
                        .map(|t| {
                            if let Some(c) = t.strip_prefix("cas=") {
                                format!("cas={}", self.map_cas(c))
                            } else if let Some((name, _)) = t.split_once('=') {
                                if ["exp", "la", "cls", "size"].contains(&name) {
                                    format!("{name}=*")
                                } else {
                                    t.to_string()
                                }
                            } else {
                                t.to_string()
                            }
                        })
                        .collect();
                    w.join(" ")
                }
                _ => line,
            };
            out.extend_from_slice(new_line.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(len) = data_len {
                let take = (len + 2).min(rest.len());
                let (data, tail) = rest[..take].split_at(len.min(take));
                out.extend_from_slice(trim_padding(data));
                out.extend_from_slice(tail);
                rest = &rest[take..];
            }
        }
        out
    }
}

/// The number of STAT lines of a `stats` reply, or what is wrong with its shape.
pub fn stat_shape(reply: &[u8]) -> Result<usize, String> {
    let text = String::from_utf8_lossy(reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    if lines.len() < 3 || !lines[lines.len() - 1].is_empty() || lines[lines.len() - 2] != "END" {
        return Err(format!("not a stats reply: {text:?}"));
    }
    for line in &lines[..lines.len() - 2] {
        if line.splitn(3, ' ').count() != 3 || !line.starts_with("STAT ") {
            return Err(format!("bad STAT line {line:?}"));
        }
    }
    Ok(lines.len() - 2)
}

/// A reply as text, its middle cut when long, for failure messages.
pub fn shorten(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() > 600 {
        format!(
            "{}…({} bytes)…{}",
            &text[..300],
            text.len(),
            &text[text.len() - 300..]
        )
    } else {
        text.into_owned()
    }
}
