//! A line diff in unified format, for `warden diff`.

/// Lines of context around each change.
pub const CONTEXT: usize = 3;
/// Largest table (lines before × lines after, once common ends are trimmed)
/// the diff computes exactly; beyond it the middle is shown as replaced.
pub const MAX_CELLS: usize = 4_000_000;

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `@@ -a,b +c,d @@`.
    Hunk(String),
    /// Unchanged.
    Same(String),
    /// Removed.
    Removed(String),
    /// Added.
    Added(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Same,
    Del,
    Ins,
}

/// The unified diff of two texts (empty when they are equal).
pub fn unified(before: &str, after: &str) -> Vec<Line> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let ops = script(&a, &b);
    // Walk the script, emitting hunks of changes with context.
    let mut out = Vec::new();
    let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
    while k < ops.len() {
        if ops[k] == Op::Same {
            i += 1;
            j += 1;
            k += 1;
            continue;
        }
        let start = k.saturating_sub(CONTEXT.min(i).min(j));
        let back = k - start;
        let (hi, hj) = (i - back, j - back);
        // Extend while changes are less than two contexts apart.
        let mut last = k;
        let mut e = k;
        while e < ops.len() && e - last <= CONTEXT * 2 {
            if ops[e] != Op::Same {
                last = e;
            }
            e += 1;
        }
        let end = (last + 1 + CONTEXT).min(ops.len());
        let mut body = Vec::new();
        let (mut ci, mut cj) = (hi, hj);
        for op in &ops[start..end] {
            match op {
                Op::Same => {
                    body.push(Line::Same(a[ci].to_string()));
                    ci += 1;
                    cj += 1;
                }
                Op::Del => {
                    body.push(Line::Removed(a[ci].to_string()));
                    ci += 1;
                }
                Op::Ins => {
                    body.push(Line::Added(b[cj].to_string()));
                    cj += 1;
                }
            }
        }
        out.push(Line::Hunk(format!(
            "@@ -{},{} +{},{} @@",
            hi + usize::from(ci > hi),
            ci - hi,
            hj + usize::from(cj > hj),
            cj - hj
        )));
        out.extend(body);
        i = ci;
        j = cj;
        k = end;
    }
    out
}

/// The edit script: common prefix and suffix, and an LCS table for the
/// middle when it is small enough.
fn script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let mut ops = vec![Op::Same; pre];
    if ma.len().saturating_mul(mb.len()) > MAX_CELLS {
        ops.extend(std::iter::repeat_n(Op::Del, ma.len()));
        ops.extend(std::iter::repeat_n(Op::Ins, mb.len()));
    } else {
        // lcs[i][j]: longest common subsequence of ma[i..] and mb[j..].
        let w = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * w];
        for i in (0..ma.len()).rev() {
            for j in (0..mb.len()).rev() {
                lcs[i * w + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < ma.len() || j < mb.len() {
            if i < ma.len() && j < mb.len() && ma[i] == mb[j] {
                ops.push(Op::Same);
                i += 1;
                j += 1;
            } else if i < ma.len() && (j == mb.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
            {
                ops.push(Op::Del);
                i += 1;
            } else {
                ops.push(Op::Ins);
                j += 1;
            }
        }
    }
    ops.extend(std::iter::repeat_n(Op::Same, suf));
    ops
}

#[cfg(test)]
mod tests {
    use super::{Line, unified};

    fn render(lines: &[Line]) -> String {
        lines
            .iter()
            .map(|l| match l {
                Line::Hunk(h) => h.clone(),
                Line::Same(s) => format!(" {s}"),
                Line::Removed(s) => format!("-{s}"),
                Line::Added(s) => format!("+{s}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn small_change_with_context() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        let b = "1\n2\n3\n4\n5\nsix\n7\n8\n9\n10\n";
        assert_eq!(
            render(&unified(a, b)),
            "@@ -3,7 +3,7 @@\n 3\n 4\n 5\n-6\n+six\n 7\n 8\n 9"
        );
        assert!(unified(a, a).is_empty());
    }

    #[test]
    fn separate_hunks_and_edges() {
        let a: String = (1..=20).map(|n| format!("{n}\n")).collect();
        let b = a.replacen("1\n", "one\n", 1).replace("20\n", "20\n21\n");
        assert_eq!(
            render(&unified(&a, &b)),
            "@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -18,3 +18,4 @@\n 18\n 19\n 20\n+21"
        );
        assert_eq!(render(&unified("", "new\n")), "@@ -0,0 +1,1 @@\n+new");
        assert_eq!(render(&unified("old\n", "")), "@@ -1,1 +0,0 @@\n-old");
    }
}
