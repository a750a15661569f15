# The demo's video transformer: a 3-block VideoMAE-style ViT (32 channels, 2 heads, 8x8 patches, tubelets of
# 2 frames, mean-pooled tokens, no class token) trained from scratch on core.synthetic clips
# (`python -m tools.demo train --model vit`). Self-contained MMAction2 1.x config (no _base_), no pretrained weights.
# 8 frames of 56x56 give a 4x7x7 token grid: the grid of Grad-CAM at `backbone.blocks.2` and of the attention maps.
# The whole frame is resized (no crop), so heatmap coordinates map linearly onto the frame.
default_scope = 'mmaction'

classes = ['moving left', 'moving right', 'moving up', 'moving down']
dataset_meta = dict(classes=classes)
clip_len = 8
input_size = 56

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='VisionTransformer',
        img_size=input_size,
        patch_size=8,
        embed_dims=32,
        depth=3,
        num_heads=2,
        mlp_ratio=2,
        qkv_bias=True,
        num_frames=clip_len,
        tubelet_size=2,
        norm_cfg=dict(type='LN', eps=1e-6)),
    cls_head=dict(
        type='TimeSformerHead',
        num_classes=4,
        in_channels=32,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

test_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VideoDataset',
        ann_file='demo_list.txt',
        data_prefix=dict(video=''),
        metainfo=dict(classes=classes),
        pipeline=test_pipeline,
        test_mode=True))
test_evaluator = dict(type='AccMetric')
test_cfg = dict(type='TestLoop')
