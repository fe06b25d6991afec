//! `--user` and the image's `User`, resolved against the image's own /etc/passwd and
//! /etc/group (as Docker does), to numeric ids, supplementary groups and $HOME.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// `spec` is `""`, `user`, `uid`, `user:group` or `uid:gid`.
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let passwd_entries: Vec<Vec<&str>> = passwd
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let group_entries: Vec<Vec<&str>> = group
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();

    let entry = passwd_entries.iter().find(|f| f[0] == user || f[2] == user);
    let (uid, mut gid, name, home) = match (entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[0].to_string(),
            f[5].to_string(),
        ),
        // A numeric uid need not exist in passwd.
        (None, Ok(uid)) => (uid, 0, String::new(), "/".to_string()),
        (None, Err(_)) => return Err(UserError::NoUser(user.to_string())),
    };
    if let Some(g) = grp {
        gid = match (
            group_entries.iter().find(|f| f[0] == g || f[2] == g),
            g.parse::<u32>(),
        ) {
            (Some(f), _) => f[2].parse().unwrap_or(0),
            (None, Ok(n)) => n,
            (None, Err(_)) => return Err(UserError::NoGroup(g.to_string())),
        };
    }
    let mut additional_gids: Vec<u32> = if name.is_empty() || grp.is_some() {
        vec![]
    } else {
        group_entries
            .iter()
            .filter(|f| f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .collect()
    };
    additional_gids.sort();
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:alice\nalice:x:1000:\n";

    #[test]
    fn resolves_names_and_numbers() {
        let r = resolve("alice", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(
            r,
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![50],
                home: "/home/alice".into()
            }
        );
        assert_eq!(
            resolve("", Some(PASSWD), Some(GROUP)).unwrap().home,
            "/root"
        );
        assert_eq!(
            resolve("www:staff", Some(PASSWD), Some(GROUP)).unwrap().gid,
            50
        );
        let r = resolve("4242:4343", None, None).unwrap();
        assert_eq!((r.uid, r.gid), (4242, 4343));
        assert_eq!(
            resolve("nobody", Some(PASSWD), None),
            Err(UserError::NoUser("nobody".into()))
        );
        assert_eq!(
            resolve("alice:nogroup", Some(PASSWD), Some(GROUP)),
            Err(UserError::NoGroup("nogroup".into()))
        );
    }
}
