//! Contract tests of the embedded reference target (`docs/netra-api.md`, Part 1) and of every
//! fault knob. Each test starts its own target on 127.0.0.1 port 0.

mod auth;
mod backend;
mod common;
mod dialects;
mod faults;
mod ws;
