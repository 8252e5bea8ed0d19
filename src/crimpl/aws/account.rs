//! The account-wide housekeeping of `%crimpl aws ...`, in the regions a
//! [`Coverage`] names: crimpl's instances, volumes and their hourly cost,
//! and ending them. Only resources tagged by crimpl are listed or touched.

use super::cost::{self, Charge};
use super::region::{self, Coverage};
use super::{Ec2, Instance, Progress, Volume};
use crate::crimpl::EngineError;

/// crimpl's resources in the covered regions of the account.
pub struct Account {
    clients: Vec<Ec2>,
}

impl Account {
    /// The regions `coverage` names (DescribeRegions for all of them).
    pub fn covering(coverage: &Coverage) -> anyhow::Result<Self> {
        Ok(Self {
            clients: coverage.clients()?,
        })
    }

    /// The regions covered, for a caption: `us-east-1`, or `3 regions (a, b, c)`.
    pub fn covered(&self) -> String {
        let names: Vec<String> = self.clients.iter().map(Ec2::region).collect();
        region::covered(&names)
    }

    /// crimpl's instances, per region.
    pub fn instances(&self) -> anyhow::Result<Vec<(String, Vec<Instance>)>> {
        region::each_region(&self.clients, |ec2| ec2.instances(None))
    }

    /// crimpl's volumes, per region.
    pub fn volumes(&self) -> anyhow::Result<Vec<(String, Vec<Volume>)>> {
        region::each_region(&self.clients, |ec2| ec2.volumes(None))
    }

    /// What crimpl's resources cost per hour, per region.
    pub fn charges(&self) -> anyhow::Result<Vec<(String, Vec<Charge>)>> {
        region::each_region(&self.clients, cost::charges)
    }

    /// Terminate crimpl's instance `instance_id` and wait until it is gone;
    /// returns its region.
    pub fn terminate(&self, instance_id: &str, progress: Progress<'_>) -> anyhow::Result<String> {
        let ec2 = self.holding(|ec2| Ok(ec2.instances(None)?.iter().any(|i| i.id == instance_id)))?
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "{instance_id} is not a running crimpl instance in {} (%crimpl aws instances --all-regions lists them)",
                    self.covered()
                ))
            })?;
        ec2.terminate(&[instance_id.to_string()], progress)?;
        Ok(ec2.region())
    }

    /// Delete crimpl's volume `volume_id` once it is free; returns its region.
    pub fn delete_volume(&self, volume_id: &str, progress: Progress<'_>) -> anyhow::Result<String> {
        let ec2 = self.holding(|ec2| Ok(ec2.volumes(None)?.iter().any(|v| v.id == volume_id)))?
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "{volume_id} is not a crimpl volume in {} (%crimpl aws volumes --all-regions lists them)",
                    self.covered()
                ))
            })?;
        ec2.delete_volume_when_free(volume_id, progress)?;
        Ok(ec2.region())
    }

    /// Terminate every crimpl instance, waiting until they are gone; returns their ids.
    pub fn terminate_all(&self, progress: Progress<'_>) -> anyhow::Result<Vec<String>> {
        let mut ended = Vec::new();
        for ec2 in &self.clients {
            ended.extend(Self::terminate_in(ec2, progress)?);
        }
        Ok(ended)
    }

    /// Terminate every crimpl instance, then delete every crimpl volume once
    /// free; returns the volumes' ids.
    pub fn delete_all_volumes(&self, progress: Progress<'_>) -> anyhow::Result<Vec<String>> {
        let mut deleted = Vec::new();
        for ec2 in &self.clients {
            Self::terminate_in(ec2, progress)?;
            for volume in ec2.volumes(None)? {
                ec2.delete_volume_when_free(&volume.id, progress)?;
                deleted.push(volume.id);
            }
        }
        Ok(deleted)
    }

    /// Terminate crimpl's instances in `ec2`'s region; returns their ids.
    fn terminate_in(ec2: &Ec2, progress: Progress<'_>) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = ec2.instances(None)?.into_iter().map(|i| i.id).collect();
        ec2.terminate(&ids, progress)?;
        Ok(ids)
    }

    /// The client of the first region where `has` holds (all asked at once).
    fn holding(
        &self,
        has: impl Fn(&Ec2) -> anyhow::Result<bool> + Sync,
    ) -> anyhow::Result<Option<&Ec2>> {
        let found = region::each_region(&self.clients, has)?;
        Ok(self
            .clients
            .iter()
            .zip(found)
            .find(|(_, (_, has))| *has)
            .map(|(ec2, _)| ec2))
    }
}
