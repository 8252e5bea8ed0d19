//! One image per server: the image every instance of a server launches
//! from, one per processor architecture, pinned at `server new` and changed
//! only by `server update-image`. The pins are tags on the server's volume
//! (`crimpl.image.x86_64` = `ami-...`), so every kernel that finds the
//! volume uses the same images; the server's settings keep a copy to show.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use super::ec2::{CANONICAL, Ec2, Image, noble_pattern};

/// Prefix of the volume tags pinning an image: `crimpl.image.ARCH`.
pub const TAG_PREFIX: &str = "crimpl.image.";

/// The architectures crimpl pins an Ubuntu image for, the first required.
pub const ARCHITECTURES: [&str; 2] = ["x86_64", "arm64"];

/// Pinned images: architecture (`x86_64`, `arm64`) to image id.
pub type Pins = BTreeMap<String, String>;

/// The pins recorded in a volume's tags.
pub fn pins_of(tags: &[(String, String)]) -> Pins {
    tags.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(TAG_PREFIX)
                .map(|arch| (arch.to_string(), v.clone()))
        })
        .collect()
}

/// The volume tags recording `pins`.
pub fn tags_of(pins: &Pins) -> Vec<(String, String)> {
    pins.iter()
        .map(|(arch, id)| (format!("{TAG_PREFIX}{arch}"), id.clone()))
        .collect()
}

/// The images to pin: the image `chosen` (with `--image-id`) for its own
/// architecture, or else the newest Ubuntu 24.04 LTS image of each
/// architecture the region has (x86_64 is required).
pub fn resolve(ec2: &Ec2, chosen: Option<&str>) -> anyhow::Result<Vec<Image>> {
    if let Some(id) = chosen {
        let image = ec2
            .image(id)?
            .with_context(|| format!("image {id} is not in this region: check --image-id"))?;
        if image.state != "available" {
            bail!(
                "image {id} is {}: choose an available --image-id",
                image.state
            );
        }
        return Ok(vec![image]);
    }
    let mut images = Vec::new();
    for arch in ARCHITECTURES {
        match ec2.newest_noble(arch)? {
            Some(image) => images.push(image),
            None if arch == ARCHITECTURES[0] => bail!(
                "no Ubuntu 24.04 LTS image for {arch} in this region (owner {CANONICAL}, name {}): pass --image-id",
                noble_pattern(arch)
            ),
            None => {}
        }
    }
    Ok(images)
}

/// The pins of `images`.
pub fn pins(images: &[Image]) -> Pins {
    images
        .iter()
        .map(|i| (i.architecture.clone(), i.id.clone()))
        .collect()
}

/// `ami-... (NAME, ARCH)` for each image, for messages.
pub fn describe(images: &[Image]) -> String {
    images
        .iter()
        .map(|i| format!("{} ({}, {})", i.id, i.name, i.architecture))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// What changes from `old` to `new` pins, one line per architecture
/// (`x86_64: ami-old -> ami-new`); empty when nothing changes.
pub fn changes(old: &Pins, new: &Pins) -> Vec<String> {
    let arches: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    arches
        .into_iter()
        .filter(|arch| old.get(*arch) != new.get(*arch))
        .map(|arch| {
            let side = |pins: &Pins| pins.get(arch).cloned().unwrap_or_else(|| "none".into());
            format!("{arch}: {} -> {}", side(old), side(new))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned(pairs: &[(&str, &str)]) -> Pins {
        pairs
            .iter()
            .map(|(a, i)| (a.to_string(), i.to_string()))
            .collect()
    }

    #[test]
    fn pins_round_trip_through_volume_tags() {
        let pins = pinned(&[("x86_64", "ami-1"), ("arm64", "ami-2")]);
        let mut tags = tags_of(&pins);
        tags.push(("crimpl.level".into(), "server-volume".into()));
        assert_eq!(pins_of(&tags), pins);
    }

    #[test]
    fn changes_name_each_architecture_old_to_new() {
        let old = pinned(&[("x86_64", "ami-1"), ("arm64", "ami-2")]);
        let new = pinned(&[("x86_64", "ami-3"), ("arm64", "ami-2")]);
        assert_eq!(changes(&old, &new), vec!["x86_64: ami-1 -> ami-3"]);
        assert_eq!(
            changes(&pinned(&[]), &pinned(&[("arm64", "ami-2")])),
            vec!["arm64: none -> ami-2"]
        );
        assert!(changes(&old, &old).is_empty());
    }
}
