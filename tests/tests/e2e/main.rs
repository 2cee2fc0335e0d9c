//! End-to-end tests: the real server, GraphQL over HTTP.

mod accounts;
mod approval;
mod audit;
mod authorisation;
mod bad_input;
mod command_ids;
mod deletion;
mod domains;
mod faults;
mod hr;
mod http_surface;
mod mail;
mod organisation;
mod paging;
mod poison;
mod read_models;
mod restart;
mod retention;
mod stream_history;
