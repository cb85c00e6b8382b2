"""The reference side of bench/data-pipeline.ts: torchvision's standard SimCLR transform on PIL images.

  python data-pipeline.py make-images OUT_DIR COUNT   224x224 JPEGs cut from scikit-image's bundled photographs
  python data-pipeline.py torchvision IMAGE_DIR SECONDS   two SimCLR views per image for SECONDS, one thread;
                                                          prints one JSON line {views, cpu_s, wall_s}
"""
import json
import os
import random
import sys
import time


# scikit-image ships these real colour photographs inside its wheel (no download).
PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'motorcycle_left.png',
          'hubble_deep_field.jpg', 'ihc.png', 'retina.jpg']


def make_images(out_dir, count):
    import skimage
    from PIL import Image
    data = os.path.join(os.path.dirname(skimage.__file__), 'data')
    photos = [Image.open(os.path.join(data, name)).convert('RGB') for name in PHOTOS]
    rng = random.Random(0)
    cls = os.path.join(out_dir, 'train', 'photos')
    os.makedirs(cls, exist_ok=True)
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = photo.size
        side = int(min(w, h) * rng.uniform(0.5, 1.0))
        left, top = rng.randint(0, w - side), rng.randint(0, h - side)
        tile = photo.crop((left, top, left + side, top + side)).resize((224, 224), Image.BILINEAR)
        tile.save(os.path.join(cls, f'{i:04d}.jpg'), quality=90)


def simclr_transform(size=224, s=1.0):
    """The SimCLR paper's ImageNet augmentation as torchvision users write it (PIL path, transforms v1)."""
    import torchvision.transforms as T
    jitter = T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)
    kernel = int(0.1 * size) // 2 * 2 + 1  # 10% of the side, odd: 23 for 224
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
        T.RandomHorizontalFlip(p=0.5),
        T.RandomApply([jitter], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5),
        T.ToTensor(),
        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])


def bench_torchvision(image_dir, seconds):
    import torch
    from PIL import Image
    torch.set_num_threads(1)  # per core: one thread, as a DataLoader worker runs it
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(image_dir) for f in names if f.endswith('.jpg'))
    transform = simclr_transform()
    views = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    i = 0
    while time.perf_counter() - wall0 < seconds:
        img = Image.open(files[i % len(files)]).convert('RGB')  # decode once, two views: the SimCLR dataset
        a, b = transform(img), transform(img)
        assert a.shape == (3, 224, 224) and b.shape == (3, 224, 224)
        views += 2
        i += 1
    print(json.dumps({'views': views, 'cpu_s': time.process_time() - cpu0, 'wall_s': time.perf_counter() - wall0,
                      'torch': torch.__version__}))


if __name__ == '__main__':
    if sys.argv[1] == 'make-images':
        make_images(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == 'torchvision':
        bench_torchvision(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(f'unknown command {sys.argv[1]}: use make-images or torchvision')
