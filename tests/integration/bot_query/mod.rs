//! The Bot Query API against real fastapi_poe: `tests/interop/poe_api_standin.py` serves
//! fastapi_poe bots in Poe's place (started once for the module), and for each case the
//! `caller` fixture on poe-host and fastapi_poe's own client (`fp_stream_request.py`) call
//! it the same way. What the stand-in received (headers, body field by field, retries,
//! `report_error` calls) and what each side yielded must match. `hostile.rs` has the
//! upstreams fastapi_poe would not be.

mod differential;
mod hostile;
mod limits;
pub mod standin;
