//! Credentials files for `login` provisioning: accounts that exist already on a deployment
//! without a register endpoint. CSV (`email,password`, an optional header line) or TOML
//! (`[[account]]` tables with `email` and `password`). Errors name the file and line, never a
//! password.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::InputError;
use crate::client::Account;

/// Reads and checks the accounts in `path`: at least one, none empty, no email twice (users
/// sharing an account would share data and fake an isolation breach).
pub fn load(path: &Path) -> Result<Vec<Account>, InputError> {
    let bad =
        |line: Option<u64>, message: String| InputError::Credentials { path: path.to_owned(), line, message };
    let text = std::fs::read_to_string(path).map_err(|error| InputError::Unreadable {
        what: "credentials",
        path: path.to_owned(),
        error,
    })?;
    let rows = if path.extension().is_some_and(|e| e == "toml") { toml_rows(&text) } else { csv_rows(&text) }
        .map_err(|(line, message)| bad(line, message))?;
    let mut seen = HashSet::new();
    let mut accounts = Vec::with_capacity(rows.len());
    for (line, account) in rows {
        if account.email.trim().is_empty() || account.password.is_empty() {
            return Err(bad(Some(line), "an email and a password are both needed".into()));
        }
        if !seen.insert(account.email.clone()) {
            let message =
                format!("`{}` is listed twice: every simulated user needs its own account", account.email);
            return Err(bad(Some(line), message));
        }
        accounts.push(account);
    }
    if accounts.is_empty() {
        return Err(bad(None, "holds no account: write one `email,password` per line".into()));
    }
    Ok(accounts)
}

/// What is wrong with a file's rows: the line, where known, and why.
type RowError = (Option<u64>, String);

fn csv_rows(text: &str) -> Result<Vec<(u64, Account)>, RowError> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::Fields).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        // csv's errors quote no field values, so no password can leak through them.
        let record = record.map_err(|e| (None, e.to_string()))?;
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() != 2 {
            return Err((Some(line), format!("expected `email,password`, got {} fields", record.len())));
        }
        if rows.is_empty() && record[0].eq_ignore_ascii_case("email") {
            continue;
        }
        rows.push((line, Account { email: record[0].to_owned(), password: record[1].to_owned() }));
    }
    Ok(rows)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    account: Vec<TomlAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlAccount {
    email: String,
    password: String,
}

fn toml_rows(text: &str) -> Result<Vec<(u64, Account)>, RowError> {
    let file: TomlFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() as u64 + 1);
        // The message alone: toml's Display quotes the offending source line.
        (line, e.message().to_owned())
    })?;
    Ok(file
        .account
        .into_iter()
        .enumerate()
        .map(|(n, a)| (n as u64 + 1, Account { email: a.email, password: a.password }))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(name: &str, text: &str) -> Result<Vec<Account>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn csv_and_toml_files_give_accounts_and_refuse_bad_ones_without_their_passwords() {
        let csv = load_text("u.csv", "email,password\na@x.io, s3cret-a\n\"b@x.io\",\"pa,ss\"\n").unwrap();
        assert_eq!(csv.len(), 2);
        assert_eq!((csv[1].email.as_str(), csv[1].password.as_str()), ("b@x.io", "pa,ss"));
        let toml = load_text("u.toml", "[[account]]\nemail = \"a@x.io\"\npassword = \"pw\"\n").unwrap();
        assert_eq!(toml[0].email, "a@x.io");
        let twice = load_text("u.csv", "a@x.io,one-secret\na@x.io,two-secret\n").unwrap_err();
        assert!(twice.contains(":2:") && twice.contains("twice") && !twice.contains("secret"), "{twice}");
        let fields = load_text("u.csv", "a@x.io,pw-secret,extra\n").unwrap_err();
        assert!(
            fields.contains(":1:") && fields.contains("3 fields") && !fields.contains("secret"),
            "{fields}"
        );
        assert!(load_text("u.csv", "email,password\n").unwrap_err().contains("no account"));
        assert!(load_text("u.csv", "a@x.io,\n").unwrap_err().contains("both needed"));
        let bad =
            load_text("u.toml", "[[account]]\nemail = \"a@x.io\"\npasswd = \"top-secret\"\n").unwrap_err();
        assert!(bad.contains(":3:") && !bad.contains("top-secret"), "{bad}");
        assert!(
            load(Path::new("/nonexistent/u.csv"))
                .unwrap_err()
                .to_string()
                .contains("cannot read credentials")
        );
    }
}
