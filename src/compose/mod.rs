//! `compose`: a docker-compose.yml read into a resolved project (`model`), with Compose's
//! interpolation (`interpolate`). The verbs that act on it are in `commands::compose`.

pub mod interpolate;
pub mod model;
mod parse;
mod service;

pub use model::{Project, Service};
pub use parse::{load, Load};
