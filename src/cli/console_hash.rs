//! `reckon console-hash`: an argon2id hash of a console operator's password
//! (read from stdin, first line) for `password_hash` in `[[console.operators]]`.

use super::{EXIT_OK, Failure};

pub(super) fn console_hash() -> Result<u8, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::run(format!("cannot read the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() < 8 {
        return Err(Failure::usage(
            "a console password has at least 8 characters",
        ));
    }
    let hash = crate::console::hash_password(password).map_err(Failure::run)?;
    println!("{hash}");
    Ok(EXIT_OK)
}
