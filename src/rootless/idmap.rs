//! Which host ids a user's containers may use. Root in the user namespace is the user;
//! ids 1… come from the user's ranges in `/etc/subuid` and `/etc/subgid`, written by the
//! setuid `newuidmap`/`newgidmap` (the only way an unprivileged process may map ids other
//! than its own). Without ranges, the namespace maps the user's own id alone.

use std::fmt;

/// One line of `/proc/PID/uid_map`: `count` ids from `inside` map to `outside` onwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The uid and gid maps of hako's user namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

impl Mapping {
    /// Root inside is `uid`/`gid`; 1… continue through the subordinate ranges, in file order.
    pub fn new(uid: u32, gid: u32, sub_uids: &[(u32, u32)], sub_gids: &[(u32, u32)]) -> Mapping {
        let build = |own: u32, ranges: &[(u32, u32)]| {
            let mut map = vec![IdRange {
                inside: 0,
                outside: own,
                count: 1,
            }];
            let mut next = 1u32;
            for &(start, count) in ranges {
                map.push(IdRange {
                    inside: next,
                    outside: start,
                    count,
                });
                next = next.saturating_add(count);
            }
            map
        };
        Mapping {
            uids: build(uid, sub_uids),
            gids: build(gid, sub_gids),
        }
    }

    /// Only the user's own ids: what any user may set up without a helper.
    pub fn single(&self) -> bool {
        self.uids.len() == 1 && self.gids.len() == 1
    }

    /// How many ids exist inside (the smaller of the uid and gid ranges).
    pub fn size(&self) -> u64 {
        let total = |m: &[IdRange]| m.iter().map(|r| r.count as u64).sum::<u64>();
        total(&self.uids).min(total(&self.gids))
    }

    /// `newuidmap PID` arguments: `inside outside count` triples.
    pub fn helper_args(ranges: &[IdRange]) -> Vec<String> {
        ranges
            .iter()
            .flat_map(|r| [r.inside, r.outside, r.count])
            .map(|n| n.to_string())
            .collect()
    }
}

impl fmt::Display for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |m: &[IdRange]| {
            m.iter()
                .map(|r| {
                    if r.count == 1 {
                        format!("{}→{}", r.inside, r.outside)
                    } else {
                        format!(
                            "{}-{}→{}-{}",
                            r.inside,
                            r.inside as u64 + r.count as u64 - 1,
                            r.outside,
                            r.outside as u64 + r.count as u64 - 1
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "uids {}; gids {}", show(&self.uids), show(&self.gids))
    }
}

/// `--userns=keep-id`: the container's own user namespace, nested in hako's (whose ids
/// are 0 = the user, 1… the subordinate range, `size` in all), where the user's own id
/// `own` is the user again. The ids below it shift up by one to make room.
pub fn keep_id(own: u32, size: u64) -> Vec<IdRange> {
    let size = size.max(1);
    let mut map = vec![];
    let below = (own as u64).min(size - 1) as u32;
    if below > 0 {
        map.push(IdRange {
            inside: 0,
            outside: 1,
            count: below,
        });
    }
    map.push(IdRange {
        inside: own,
        outside: 0,
        count: 1,
    });
    if (own as u64) + 1 < size {
        map.push(IdRange {
            inside: own + 1,
            outside: own + 1,
            count: (size - own as u64 - 1) as u32,
        });
    }
    map
}

/// The ranges `/etc/subuid` (or subgid) gives the user, named or by number.
pub fn subordinate_ranges(file_text: &str, user: &str, id: u32) -> Vec<(u32, u32)> {
    let id = id.to_string();
    file_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split(':');
            let (owner, start, count) = (parts.next()?, parts.next()?, parts.next()?);
            if owner != user && owner != id {
                return None;
            }
            let (start, count) = (start.trim().parse().ok()?, count.trim().parse().ok()?);
            (count > 0).then_some((start, count))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_found_by_name_or_number_and_junk_is_skipped() {
        let text = "# comment\nalice:100000:65536\nbob:165536:65536\n1000:300000:10\nalice:bad:1\nalice:5:0\n";
        assert_eq!(
            subordinate_ranges(text, "alice", 1000),
            vec![(100000, 65536), (300000, 10)]
        );
        assert_eq!(subordinate_ranges(text, "carol", 1002), vec![]);
    }

    #[test]
    fn root_is_the_user_and_the_ranges_follow() {
        let m = Mapping::new(1000, 1000, &[(100000, 65536)], &[(100000, 65536)]);
        assert_eq!(
            m.uids,
            vec![
                IdRange {
                    inside: 0,
                    outside: 1000,
                    count: 1
                },
                IdRange {
                    inside: 1,
                    outside: 100000,
                    count: 65536
                }
            ]
        );
        assert_eq!(m.size(), 65537);
        assert!(!m.single());
        assert_eq!(
            Mapping::helper_args(&m.uids),
            ["0", "1000", "1", "1", "100000", "65536"]
        );
        assert_eq!(
            m.to_string(),
            "uids 0→1000, 1-65536→100000-165535; gids 0→1000, 1-65536→100000-165535"
        );
    }

    #[test]
    fn keep_id_puts_the_user_at_their_own_number() {
        let r = |inside, outside, count| IdRange {
            inside,
            outside,
            count,
        };
        assert_eq!(
            keep_id(1000, 65537),
            vec![r(0, 1, 1000), r(1000, 0, 1), r(1001, 1001, 64536)]
        );
        // More ids below the user's than the namespace has: the rest stay unmapped.
        assert_eq!(
            keep_id(100_000, 65537),
            vec![r(0, 1, 65536), r(100_000, 0, 1)]
        );
        // A single-id namespace: only the user.
        assert_eq!(keep_id(1000, 1), vec![r(1000, 0, 1)]);
    }

    #[test]
    fn without_ranges_only_the_user_is_mapped() {
        let m = Mapping::new(1000, 1000, &[], &[]);
        assert!(m.single());
        assert_eq!(m.size(), 1);
    }
}
