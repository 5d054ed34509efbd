"""The sample world's catalog taxonomy: departments > groups > leaf product types, with
the brands and attributes that make believable titles. Invented names only."""

# department -> group -> leaf -> (product nouns, attributes)
TAXONOMY = {
    "Sports": {
        "Running": {"Running Shoes": ["running shoes", "trail shoes"], "Running Socks": ["running socks"],
                    "Running Shorts": ["running shorts"], "Hydration Packs": ["hydration vest", "running belt"]},
        "Cycling": {"Bike Helmets": ["bike helmet"], "Bike Lights": ["bike light set"],
                    "Cycling Gloves": ["cycling gloves"], "Bike Locks": ["bike lock"]},
        "Fitness": {"Yoga Mats": ["yoga mat"], "Dumbbells": ["dumbbell set", "adjustable dumbbells"],
                    "Resistance Bands": ["resistance bands"], "Jump Ropes": ["jump rope"]},
        "Camping": {"Tents": ["dome tent", "backpacking tent"], "Sleeping Bags": ["sleeping bag"],
                    "Camping Stoves": ["camping stove"], "Headlamps": ["headlamp"]},
    },
    "Electronics": {
        "Audio": {"Headphones": ["over-ear headphones", "noise cancelling headphones"],
                  "Earbuds": ["wireless earbuds"], "Bluetooth Speakers": ["bluetooth speaker"],
                  "Soundbars": ["soundbar"]},
        "Computers": {"Laptops": ["laptop", "ultrabook"], "Keyboards": ["mechanical keyboard"],
                      "Mice": ["wireless mouse", "gaming mouse"], "Monitors": ["monitor"]},
        "Phones": {"Phone Cases": ["phone case"], "Chargers": ["usb-c charger", "fast charger"],
                   "Power Banks": ["power bank"], "Screen Protectors": ["screen protector"]},
        "Smart Home": {"Smart Plugs": ["smart plug"], "Security Cameras": ["security camera"],
                       "Smart Bulbs": ["smart bulb"], "Video Doorbells": ["video doorbell"]},
    },
    "Home": {
        "Bedding": {"Duvet Covers": ["duvet cover"], "Pillows": ["pillow", "memory foam pillow"],
                    "Sheets": ["bed sheet set"], "Blankets": ["throw blanket"]},
        "Decor": {"Candles": ["scented candle"], "Picture Frames": ["picture frame"],
                  "Wall Clocks": ["wall clock"], "Vases": ["ceramic vase"]},
        "Storage": {"Storage Bins": ["storage bin"], "Shelves": ["floating shelf"],
                    "Laundry Baskets": ["laundry basket"], "Shoe Racks": ["shoe rack"]},
        "Lighting": {"Desk Lamps": ["desk lamp"], "Floor Lamps": ["floor lamp"],
                     "String Lights": ["string lights"], "Night Lights": ["night light"]},
    },
    "Kitchen": {
        "Coffee": {"Coffee Makers": ["drip coffee maker", "espresso machine"], "Coffee Grinders": ["coffee grinder"],
                   "Coffee Mugs": ["coffee mug", "travel mug"], "French Presses": ["french press"]},
        "Cookware": {"Frying Pans": ["frying pan", "skillet"], "Saucepans": ["saucepan"],
                     "Dutch Ovens": ["dutch oven"], "Woks": ["wok"]},
        "Appliances": {"Blenders": ["blender"], "Air Fryers": ["air fryer"], "Toasters": ["toaster"],
                       "Electric Kettles": ["electric kettle"]},
        "Tableware": {"Dinner Plates": ["dinner plate set"], "Wine Glasses": ["wine glasses"],
                      "Cutlery Sets": ["cutlery set"], "Serving Bowls": ["serving bowl"]},
    },
    "Beauty": {
        "Skincare": {"Moisturizers": ["face moisturizer"], "Sunscreen": ["sunscreen"],
                     "Cleansers": ["face cleanser"], "Serums": ["vitamin c serum"]},
        "Hair": {"Shampoo": ["shampoo"], "Hair Dryers": ["hair dryer"], "Hair Brushes": ["hair brush"],
                 "Conditioner": ["conditioner"]},
        "Fragrance": {"Perfume": ["eau de parfum"], "Body Mist": ["body mist"],
                      "Cologne": ["cologne"], "Deodorant": ["deodorant"]},
    },
    "Fashion": {
        "Women's Clothing": {"Dresses": ["summer dress", "wrap dress"], "Jeans": ["skinny jeans"],
                             "Sweaters": ["knit sweater"], "Raincoats": ["rain jacket"]},
        "Men's Clothing": {"T-Shirts": ["crew neck t-shirt"], "Chinos": ["chino pants"],
                           "Hoodies": ["zip hoodie"], "Winter Jackets": ["puffer jacket"]},
        "Accessories": {"Backpacks": ["backpack", "laptop backpack"], "Wallets": ["leather wallet"],
                        "Sunglasses": ["sunglasses"], "Watches": ["analog watch"]},
        "Shoes": {"Sneakers": ["sneakers"], "Boots": ["chelsea boots", "hiking boots"],
                  "Sandals": ["sandals"], "Slippers": ["slippers"]},
    },
    "Toys": {
        "Building": {"Building Blocks": ["building blocks set"], "Marble Runs": ["marble run"],
                     "Model Kits": ["model kit"], "Magnetic Tiles": ["magnetic tiles"]},
        "Games": {"Board Games": ["board game"], "Puzzles": ["jigsaw puzzle"],
                  "Card Games": ["card game"], "Dice Games": ["dice game"]},
    },
    "Garden": {
        "Tools": {"Pruners": ["pruning shears"], "Garden Hoses": ["garden hose"],
                  "Shovels": ["shovel"], "Watering Cans": ["watering can"]},
        "Plants": {"Seeds": ["vegetable seeds"], "Planters": ["ceramic planter"],
                   "Potting Soil": ["potting soil"], "Grow Lights": ["grow light"]},
    },
    "Pets": {
        "Dogs": {"Dog Food": ["dry dog food"], "Dog Beds": ["dog bed"], "Dog Leashes": ["dog leash"],
                 "Dog Toys": ["chew toy"]},
        "Cats": {"Cat Food": ["wet cat food"], "Cat Litter": ["clumping cat litter"],
                 "Cat Trees": ["cat tree"], "Cat Toys": ["cat wand toy"]},
    },
    "Office": {
        "Supplies": {"Notebooks": ["notebook"], "Pens": ["gel pens"], "Desk Organizers": ["desk organizer"],
                     "Sticky Notes": ["sticky notes"]},
        "Furniture": {"Office Chairs": ["ergonomic office chair"], "Standing Desks": ["standing desk"],
                      "Monitor Arms": ["monitor arm"], "Footrests": ["footrest"]},
    },
}

BRANDS = {
    "Sports": ["Nordia", "Stridex", "Peakline", "Velora", "Trailhawk", "Ironform"],
    "Electronics": ["Voltix", "Sonique", "Lumo", "Zentra", "Arcwave", "Pixelon"],
    "Home": ["Hearth & Co", "Linara", "Nestwell", "Oakmere", "Softly"],
    "Kitchen": ["Brevo", "Copperleaf", "Kitchara", "Vesta", "Grindhaus"],
    "Beauty": ["Lumiere", "Purely", "Aqualis", "Rosebay", "Dermaly"],
    "Fashion": ["Urbanthread", "Marlowe", "Northcoast", "Velvetine", "Kestrel"],
    "Toys": ["Brickly", "Playnest", "Funforge", "Tinkertot"],
    "Garden": ["Greenthumb", "Terrafirm", "Bloomwell", "Rootline"],
    "Pets": ["Pawsome", "Whiskerly", "Barkley", "Furhaven"],
    "Office": ["Deskly", "Inkwell", "Ergomax", "Papyra"],
}

ATTRIBUTES = {
    "Sports": ["lightweight", "waterproof", "breathable", "men's", "women's", "reflective", "compact"],
    "Electronics": ["wireless", "bluetooth 5.3", "4k", "usb-c", "portable", "rechargeable", "smart"],
    "Home": ["cotton", "linen", "queen size", "minimalist", "rustic", "velvet", "bamboo"],
    "Kitchen": ["stainless steel", "non-stick", "cast iron", "12-cup", "ceramic", "glass", "1.7l"],
    "Beauty": ["spf 50", "fragrance-free", "hydrating", "organic", "sensitive skin", "travel size"],
    "Fashion": ["slim fit", "organic cotton", "wool blend", "black", "navy", "leather", "vintage"],
    "Toys": ["500 piece", "family", "educational", "kids 6+", "wooden", "classic"],
    "Garden": ["heavy duty", "50 ft", "organic", "indoor", "ergonomic", "self-watering"],
    "Pets": ["grain-free", "large breed", "orthopedic", "indoor", "durable", "small"],
    "Office": ["a5", "dotted", "black ink", "adjustable", "bamboo", "mesh"],
}

# Words shoppers add to queries, per department.
QUERY_MODIFIERS = ["cheap", "best", "for men", "for women", "for kids", "gift", "sale", "large",
                   "small", "set"]
