//! Keeping passwords out of every text that leaves the target: the password of a URL (raw and
//! percent-decoded), of a `password=` parameter and of `PGPASSWORD` is replaced by `***`.

/// The password of a `postgres://user:password@host/db` URL, percent-decoded forms too.
pub(super) fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_owned())
}

/// The value of a `password=` query parameter, which libpq and sqlx accept too.
pub(super) fn query_password(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("password="))
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

/// `text` with every secret (and its percent-decoded form) replaced by `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        for form in [secret.clone(), percent_decode(secret)] {
            if form.len() >= 2 {
                text = text.replace(&form, "***");
            }
        }
    }
    text
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_scrubbed() {
        let url = "postgres://alice:s%3Acret@db.example:5433/app?sslmode=disable";
        assert_eq!(url_password(url).as_deref(), Some("s%3Acret"));
        let secrets = vec!["s%3Acret".to_owned()];
        assert_eq!(
            redact("failed for s:cret and s%3Acret", &secrets),
            "failed for *** and ***"
        );
        assert_eq!(url_password("postgres://alice@host/db"), None);
        assert_eq!(url_password("postgres:///db?host=/tmp"), None);
    }
}
