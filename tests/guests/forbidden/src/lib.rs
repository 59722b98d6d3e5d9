//! Opens a TCP connection, which imports wasi:sockets: weft must refuse the component.

use weft_sdk::Failure;

fn forbidden(addr: String) -> Result<bool, Failure> {
    Ok(std::net::TcpStream::connect(addr).is_ok())
}

weft_sdk::workflow!(forbidden);
