//! Setting up an AWS server (`server new aws`): the network checked, the
//! images pinned, the volume found by its name tag or created.

use anyhow::{Context, bail};

use super::{AwsConfig, Ec2, InstanceSettings, Progress, image, network, offerings, tags};

impl AwsConfig {
    /// Find the server's volume by its name tag, or create one of
    /// `volume_size` GiB in the subnet's zone, in `region` (`None`: the
    /// standard chain's).
    pub fn create(
        region: Option<&str>,
        name: &str,
        volume_size: i32,
        mut instances: InstanceSettings,
        progress: Progress<'_>,
    ) -> anyhow::Result<Self> {
        for word in [&instances.username, &instances.directory] {
            if word.contains(|c: char| c.is_whitespace() || "'\"$`\\;&|<>".contains(c)) {
                bail!("{word:?} contains characters a server directory or user name cannot have");
            }
        }
        super::settings::check_mount_point(&instances.directory, &instances.username)?;
        if let Some(rest) = instances.key_file.strip_prefix("~/") {
            instances.key_file = dirs::home_dir()
                .context("cannot find the home directory for ~ in --key-file")?
                .join(rest)
                .display()
                .to_string();
        }
        if !std::path::Path::new(&instances.key_file).exists() {
            bail!("key file {} does not exist", instances.key_file);
        }
        let ec2 = &Ec2::in_region(region)?;
        let zone = network::check(ec2, &instances, progress)?;
        let choice = offerings::choose(&zone, &ec2.zone_offerings(&zone)?)?;
        for note in &choice.notes {
            progress(note);
        }
        instances.server_type = choice.server_type;
        instances.job_types = choice.job_types;
        let existing = ec2.volumes(Some(name))?;
        let adopted = existing
            .first()
            .map(|v| image::pins_of(&v.tags))
            .filter(|pins| !pins.is_empty() && instances.image_id.is_none());
        instances.images = match adopted {
            Some(pins) => {
                progress(&format!(
                    "Its instances launch from the images pinned on the volume: {} (%crimpl server update-image {name} takes newer ones).",
                    pins.iter()
                        .map(|(arch, id)| format!("{id} ({arch})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                pins
            }
            None => {
                let images = image::resolve(ec2, instances.image_id.as_deref())?;
                progress(&format!(
                    "Pinned {} for every instance of server {name}, until %crimpl server update-image {name}.",
                    image::describe(&images)
                ));
                image::pins(&images)
            }
        };
        let pin_tags = image::tags_of(&instances.images);
        let (volume_id, volume_size, availability_zone) = match existing.first() {
            Some(volume) => {
                progress(&format!(
                    "Found the volume {} of server {name} ({} GiB in {}): using it.",
                    volume.id, volume.size, volume.zone
                ));
                if volume.zone != zone {
                    bail!(
                        "server {name}'s volume is in {}, but subnet {} is in {zone}: give a subnet in {}",
                        volume.zone,
                        instances.subnet_id,
                        volume.zone
                    );
                }
                if image::pins_of(&volume.tags) != instances.images {
                    let stale: Vec<String> = volume
                        .tags
                        .iter()
                        .filter(|(k, _)| k.starts_with(image::TAG_PREFIX))
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !stale.is_empty() {
                        ec2.untag(&volume.id, &stale)?;
                    }
                    ec2.tag(&volume.id, &pin_tags)?;
                }
                (volume.id.clone(), volume.size, volume.zone.clone())
            }
            None => {
                progress(&format!("Creating a {volume_size} GiB volume in {zone}…"));
                let mut volume_tags = tags::crimpl_tags("server-volume", name, &[]);
                volume_tags.extend(pin_tags);
                let id = ec2.create_volume(&zone, volume_size, &volume_tags)?;
                ec2.wait_volume_available(&id)?;
                (id, volume_size, zone)
            }
        };
        Ok(Self {
            volume_id,
            volume_size,
            availability_zone,
            region: Some(ec2.region()),
            instances,
        })
    }
}
