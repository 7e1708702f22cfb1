// The counter-based generator behind data augmentation, mirrored bit for bit by
// `reference::augment_draw`: every draw is a pure function of (seed, epoch, sample id), so an image's
// augmentation does not depend on which batch or position it lands in, and nothing is carried between
// steps. Built from the 32-bit avalanche finaliser of MurmurHash3 (a bijection on u32).
fn aug_mix(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x85ebca6bu;
    h ^= h >> 13u;
    h *= 0xc2b2ae35u;
    h ^= h >> 16u;
    return h;
}

// A key per (seed, epoch, sample): for a fixed seed and epoch, distinct samples get distinct keys.
fn aug_key(seed: u32, epoch: u32, sample: u32) -> u32 {
    let k = aug_mix(seed ^ 0x9e3779b9u);
    let k2 = aug_mix(k ^ (epoch * 0x85ebca77u + 0x165667b1u));
    return aug_mix(k2 ^ sample);
}

// (oy, ox, flip): crop offsets uniform in [0, 2 * pad], flip with probability 1/2 (1 = flip).
fn augment_draw(seed: u32, epoch: u32, sample: u32, pad: u32) -> vec3<u32> {
    let key = aug_key(seed, epoch, sample);
    let span = 2u * pad + 1u;
    let oy = aug_mix(key ^ 0x68e31da4u) % span;
    let ox = aug_mix(key ^ 0xb5297a4du) % span;
    let flip = aug_mix(key ^ 0x1b56c4e9u) >> 31u;
    return vec3<u32>(oy, ox, flip);
}
