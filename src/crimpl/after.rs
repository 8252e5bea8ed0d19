//! Dependencies between jobs of one server: `--after A,B[:ok|:any]`. A job
//! waits for the jobs it names to end; with `ok` (the default) it runs only
//! if they all completed, and otherwise ends `canceled`, saying which failed.

use anyhow::bail;

use super::layout;

/// One job waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The job's name, on the same server.
    pub job: String,
    /// Whether it must have completed (`ok`) or only ended (`any`).
    pub ok: bool,
}

impl After {
    /// Read `JOB[,JOB...][:ok|:any]`.
    pub fn parse_list(text: &str) -> anyhow::Result<Vec<After>> {
        let (jobs, ok) = match text.rsplit_once(':') {
            Some((jobs, "ok")) => (jobs, true),
            Some((jobs, "any")) => (jobs, false),
            Some((_, other)) => {
                bail!("--after {text}: {other:?} is not ok or any (JOB,JOB:ok waits for success)")
            }
            None => (text, true),
        };
        let mut list = Vec::new();
        for job in jobs.split(',').map(str::trim) {
            layout::validate_job_name(job)?;
            if !list.iter().any(|a: &After| a.job == job) {
                list.push(After {
                    job: job.into(),
                    ok,
                });
            }
        }
        Ok(list)
    }

    /// The dependency file's line: `JOB ok` or `JOB any`.
    pub fn line(&self) -> String {
        format!("{} {}\n", self.job, if self.ok { "ok" } else { "any" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_one_condition() {
        let list = After::parse_list("prep,fit:any").unwrap();
        assert_eq!(list.len(), 2);
        assert!(!list[1].ok && list[1].job == "fit");
        assert!(After::parse_list("prep").unwrap()[0].ok);
        assert_eq!(After::parse_list("a,a:ok").unwrap().len(), 1);
        for bad in ["", "a:maybe", "a;rm -rf ~", "a,,b"] {
            assert!(After::parse_list(bad).is_err(), "{bad:?}");
        }
    }
}
