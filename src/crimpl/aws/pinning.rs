//! The images a server's instances boot, pinned per architecture
//! (`server update-image` moves them on).

use anyhow::{Context, bail};

use super::{AwsConfig, AwsServer, Progress, Volume, image};

/// What `server update-image` did.
pub struct ImageUpdate {
    /// The server's settings with the new images (to save).
    pub config: AwsConfig,
    /// The images now pinned, described.
    pub images: Vec<String>,
    /// `ARCH: old -> new`, one per changed architecture; empty if none changed.
    pub changes: Vec<String>,
}

impl AwsServer {
    /// The image pinned on `volume` for `instance_type`'s architecture. A
    /// server without one for that architecture (made by an older version,
    /// or in a region that had no such image then) pins the newest Ubuntu
    /// 24.04 LTS image now, and says so; a server launching from an image
    /// chosen with `--image-id` refuses a type of another architecture.
    pub(super) fn pinned_image(
        &self,
        volume: &Volume,
        instance_type: &str,
        progress: Progress<'_>,
    ) -> anyhow::Result<String> {
        let pins = image::pins_of(&volume.tags);
        let chosen = &self.config.instances.image_id;
        if let (true, Some(chosen)) = (pins.is_empty(), chosen) {
            // Saved before images were pinned on the volume.
            return Ok(chosen.clone());
        }
        let arch = self.architecture(instance_type)?;
        if let Some(id) = pins.get(&arch) {
            return Ok(id.clone());
        }
        if let Some(chosen) = chosen {
            bail!(
                "server {} launches from {chosen} (chosen with --image-id), which is not {arch}, and {instance_type} is {arch}: submit with --image-id of an {arch} image, or an --instance-type of the image's architecture",
                self.name
            );
        }
        let found = self.ec2.newest_noble(&arch)?.with_context(|| {
            format!(
                "no Ubuntu 24.04 LTS image for {arch} ({instance_type}) in this region: submit with --image-id, or an --instance-type of another architecture"
            )
        })?;
        self.ec2.tag(
            &volume.id,
            &image::tags_of(&image::pins(std::slice::from_ref(&found))),
        )?;
        progress(&format!(
            "Server {} had no {arch} image pinned: pinned {} for its {arch} instances from now on.",
            self.name,
            image::describe(std::slice::from_ref(&found))
        ));
        Ok(found.id)
    }

    /// The architecture of `instance_type` (asked of EC2 once per type).
    pub(super) fn architecture(&self, instance_type: &str) -> anyhow::Result<String> {
        if let Some(arch) = self
            .architectures
            .lock()
            .ok()
            .and_then(|known| known.get(instance_type).cloned())
        {
            return Ok(arch);
        }
        let arch = self.ec2.architecture(instance_type)?;
        if let Ok(mut known) = self.architectures.lock() {
            known.insert(instance_type.to_string(), arch.clone());
        }
        Ok(arch)
    }

    /// Pin the newest Ubuntu 24.04 LTS images again (or the image `chosen`),
    /// on the volume. Refused while an instance of the server exists, since
    /// it would go on with the old image.
    pub fn update_image(&self, chosen: Option<&str>) -> anyhow::Result<ImageUpdate> {
        let volume = self.volume()?;
        let old = image::pins_of(&volume.tags);
        let images = image::resolve(&self.ec2, chosen)?;
        let new = image::pins(&images);
        let described: Vec<String> = images
            .iter()
            .map(|i| {
                format!(
                    "{} ({}, {}, made {})",
                    i.id, i.name, i.architecture, i.created
                )
            })
            .collect();
        let changes = image::changes(&old, &new);
        let mut config = self.config.clone();
        config.instances.image_id = chosen.map(str::to_string);
        config.instances.images = new.clone();
        if changes.is_empty() {
            return Ok(ImageUpdate {
                config,
                images: described,
                changes,
            });
        }
        let instances = self.instances()?;
        if !instances.is_empty() {
            let listed: Vec<String> = instances
                .iter()
                .map(|i| match &i.job_name {
                    Some(job) => format!("{} (job {job}, {})", i.id, i.state),
                    None => format!("{} ({} instance, {})", i.id, i.level, i.state),
                })
                .collect();
            bail!(
                "server {name} would change images ({}), but {} launched from the old image and would keep it. Nothing changed: terminate them first (%crimpl server terminate {name}; let jobs end or %crimpl job terminate JOB), then update-image again",
                changes.join(", "),
                listed.join(", "),
                name = self.name
            );
        }
        let stale: Vec<String> = old
            .keys()
            .filter(|arch| !new.contains_key(*arch))
            .map(|arch| format!("{}{arch}", image::TAG_PREFIX))
            .collect();
        if !stale.is_empty() {
            self.ec2.untag(&volume.id, &stale)?;
        }
        self.ec2.tag(&volume.id, &image::tags_of(&new))?;
        Ok(ImageUpdate {
            config,
            images: described,
            changes,
        })
    }
}
